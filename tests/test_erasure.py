"""/forget after a whole journey: nothing in any table or Redis key leads back to the person."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, MessageEntity, Update, User
from redis.asyncio import Redis
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.factory import create_bot, create_dispatcher, create_storage
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession
from bot.outbox_worker import OutboxWorker
from core.clock import FrozenClock
from db import models
from db.base import Base
from handlers.notifications import NotificationRenderer
from tests.referral_helpers import family_in, latest_referral, staff

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Everything that names, reaches or quotes the person; none of it may survive /forget.
TELEGRAM_ID = 7310048291
PERSON = {
    "telegram id": str(TELEGRAM_ID),
    "first name": "Евлампия",
    "last name": "Кукушкина",
    "username": "evlampia_k1987",
    "phone": "9161234567",
    "search": "Кукушкина Евлампия Петровна 89161234567 выплата многодетным",
    "empty search": "бесплатный зоопарк для Кукушкиной evlampia@example.ru",
    "description": "Муж пьёт, денег нет, помогите Евлампии с тремя детьми",
    "family text": "Жду звонка после обеда, дети спят",
    "family caption": "Справка о доходах Кукушкиной",
    "volunteer text": "Перезвоню вам завтра утром насчёт пособия",
    "volunteer caption": "Бланк заявления для Евлампии",
    "comment": "Спасибо Ольге, помогли с пособием на Машу",
    "gap comment": "Третий месяц не можем попасть в садик на Садовой 5",
    "abandoned description": "Соседка Кукушкиной бьёт детей, адрес Лесная 12",
}


def readable(text: str) -> str:
    """JSON is written with \\u escapes (aiogram, SQLite): compare the decoded text too."""
    try:
        return f"{text} {json.dumps(json.loads(text), ensure_ascii=False)}"
    except ValueError:
        return text


@dataclasses.dataclass
class RedisChat:
    chat: LocalChat
    redis: Redis
    prefix: str
    worker: OutboxWorker

    async def deliver(self) -> int:
        return await self.worker.drain()

    async def entries(self) -> dict[str, str]:
        """Every key under this test's prefix with its value as text."""
        found: dict[str, str] = {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*"):
            # FSM records and locks are strings; a key of another type is checked by name.
            value = await self.redis.get(key) if await self.redis.type(key) == "string" else None
            found[key] = readable(value if isinstance(value, str) else repr(value))
        return found


@pytest.fixture
async def redis_chat(app: App) -> AsyncIterator[RedisChat]:
    """The real dispatcher on RedisStorage, under a key prefix of its own."""
    prefix = f"nav-test-{uuid.uuid4().hex}"
    settings = app.settings.model_copy(update={"redis_url": REDIS_URL})
    with_redis = dataclasses.replace(app, settings=settings)
    storage = create_storage(settings, clock=app.clock, prefix=prefix)
    local = LocalSession()
    bot = create_bot(settings, session=local)
    chat = LocalChat(create_dispatcher(with_redis, storage, rate_limit=None), bot, local)

    async def no_sleep(_: float) -> None:
        return None

    worker = OutboxWorker(
        app.session_factory,
        bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield RedisChat(chat, redis, prefix, worker)
    finally:
        async for key in redis.scan_iter(match=f"{prefix}:*"):
            await redis.delete(key)
        await redis.aclose()
        await storage.close()


async def database_leaks(session: AsyncSession) -> list[str]:
    """Every column of every table, cast to text, searched for everything in PERSON."""
    leaks = []
    for table in Base.metadata.sorted_tables:
        rows = await session.execute(select(*(cast(column, Text) for column in table.columns)))
        for row in rows:
            for column, value in zip(table.columns, row, strict=True):
                for what, needle in PERSON.items():
                    if value is not None and needle.lower() in readable(value).lower():
                        leaks.append(f"{table.name}.{column.name}: {what}")
    return sorted(set(leaks))


def redis_leaks(entries: dict[str, str]) -> list[str]:
    return sorted(
        {
            f"{key}: {what}"
            for key, value in entries.items()
            for what, needle in PERSON.items()
            if needle.lower() in f"{key} {value}".lower()
        }
    )


async def test_after_forget_no_table_and_no_redis_key_leads_back_to_the_person(
    app: App, redis_chat: RedisChat, session: AsyncSession
) -> None:
    chat, deliver = redis_chat.chat, redis_chat.deliver
    olga = await staff(app, chat, 8601, "tam-opora-demo")
    person = ChatUser(
        chat,
        User(
            id=TELEGRAM_ID,
            is_bot=False,
            first_name=PERSON["first name"],
            last_name=PERSON["last name"],
            username=PERSON["username"],
            language_code="ru",
        ),
    )
    await person.send("/start")
    await person.click("✅ Согласен(на)")
    await person.click("Тамбовская область")
    await person.send("Тамбов")
    await person.click("г. Тамбов")
    await person.send(PERSON["search"])
    await person.send(PERSON["empty search"])

    # A request with a description and a phone, relayed both ways with text and media.
    await person.send("/request")
    await person.click("💬 Психологическая помощь")
    await person.click("📍")
    await person.send(PERSON["description"])
    await person.click("📞 Дать номер")
    await person.send_contact("+7" + PERSON["phone"])
    await person.click("✅ Да, передать")
    await deliver()
    number = (await latest_referral(session)).id
    assert PERSON["description"] in olga.last_text
    await olga.click("✅ Принять")
    await olga.click("✉️ Написать семье")
    await olga.send(PERSON["volunteer text"])
    await olga.send_photo(caption=PERSON["volunteer caption"])
    await deliver()
    await person.click("↩️ Ответить")
    await person.send(PERSON["family text"])
    await person.send_photo(caption=PERSON["family caption"])
    await deliver()
    assert PERSON["family caption"] in olga.last_text, "the relay really happened"
    # Once delivered, the outbox keeps no copy of the offer or of what was relayed.
    delivered = " ".join(
        readable(json.dumps(payload))
        for payload in await session.scalars(select(models.OutboxMessage.payload))
    )
    assert "from_chat_id" not in delivered
    for what in ("description", "volunteer text", "volunteer caption", "family caption"):
        assert PERSON[what] not in delivered, what

    # Resolved, confirmed with a comment; then a gap report.
    await olga.send("/inbox")
    await olga.click(f"№{number}")
    await olga.click("✔️ Решено")
    await deliver()
    await person.click("Да")
    await person.click("⭐⭐⭐⭐⭐")
    await person.send(PERSON["comment"])
    await deliver()
    assert "Семья ответила" in olga.last_text
    await person.send("/my")
    await person.click("📣 Сообщить о проблеме")
    await person.click("🏫 Детский сад и школа")
    await person.send(PERSON["gap comment"])

    # A second request, abandoned halfway: its dialog sits in Redis, but not forever.
    await person.send("/request")
    await person.click("💬 Психологическая помощь")
    await person.click("📍")
    await person.send(PERSON["abandoned description"])
    entries = await redis_chat.entries()
    assert any(PERSON["abandoned description"] in value for value in entries.values())
    for key in entries:
        ttl = await redis_chat.redis.ttl(key)
        assert 0 < ttl <= app.settings.dialog_ttl_hours * 3600, f"{key} expires ({ttl})"

    await fails_three_times(chat, person, "/help")
    async with app.session_factory() as check:
        assert await check.scalar(select(models.DeadLetter.chat_id)) == TELEGRAM_ID

    await person.send("/forget")
    await person.click("Да, удалить")
    assert "удалены" in person.last_text
    await deliver()

    session.expire_all()
    assert await database_leaks(session) == []
    assert redis_leaks(await redis_chat.entries()) == []
    # What the law needs stays: which consent, given and withdrawn when, erased when.
    records = list(await session.scalars(select(models.ErasureRecord)))
    today = app.clock.now().date()
    assert sorted((r.consent_kind, r.consent_version) for r in records) == [
        ("personal_data", "1.0"),
        ("referral_transfer", "1.0"),
    ]
    for record in records:
        assert (record.consent_given_on, record.consent_withdrawn_on, record.erased_on) == (
            today,
            today,
            today,
        )
    # Anonymous counts stay for the region's numbers.
    referral = await session.get(models.Referral, number)
    assert referral is not None and referral.status == "closed"


async def fails_three_times(chat: LocalChat, person: ChatUser, text: str) -> None:
    """Telegram refuses the answer to one message three times: it becomes a dead letter."""
    update = Update(
        update_id=990_001,
        message=Message(
            message_id=1,
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=person.id, type="private"),
            from_user=person.tg,
            text=text,
            entities=[MessageEntity(type="bot_command", offset=0, length=len(text))],
        ),
    )
    for _ in range(3):
        refused = TelegramBadRequest(SendMessage(chat_id=person.id, text="x"), "Bad Request")
        chat.session.fail_next("sendMessage", refused)
        await chat.dp.feed_update(chat.bot, update)


# -- dialogs -------------------------------------------------------------------------------------


async def dialog(chat: LocalChat, person: ChatUser) -> tuple[str | None, dict[str, Any]]:
    """What the dialog storage holds for this person: their state and data."""
    context = chat.dp.fsm.get_context(chat.bot, chat_id=person.id, user_id=person.id)
    return await context.get_state(), await context.get_data()


async def test_forget_without_an_account_still_clears_the_dialog(chat: LocalChat) -> None:
    boris = chat.user(7310048301)
    await boris.send("/start")
    await boris.click("Смотреть анонимно")
    await boris.click("Тамбовская область")
    await boris.click("Пропустить")
    await boris.send("/find")
    await boris.click("Да")  # pregnant
    state, data = await dialog(chat, boris)
    assert state is not None and data, "the region and the answers sit in the dialog"

    await boris.send("/forget")
    assert "удалять нечего" in boris.last_text
    assert await dialog(chat, boris) == (None, {})


async def test_an_abandoned_request_is_forgotten_after_the_dialog_ttl(
    app: App, chat: LocalChat, clock: FrozenClock
) -> None:
    anna = await family_in(chat, 7310048302, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна помощь, звоните 89160000000")
    assert app.settings.dialog_ttl_hours == 24
    clock.advance(dt.timedelta(hours=23))
    state, data = await dialog(chat, anna)
    assert state is not None and "89160000000" in str(data), "a day to come back and finish"
    clock.advance(dt.timedelta(hours=1))
    assert await dialog(chat, anna) == (None, {})
