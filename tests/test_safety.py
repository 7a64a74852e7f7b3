"""Abuse limits, minors and privacy of logs: rate limit, size caps, deep links, under-18, PII."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Chat, Document, Message, PhotoSize, User, Video, Voice
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import LocalChat
from bot.local_session import LocalSession
from bot.middlewares.throttle import RateLimit
from db import models
from tests.referral_helpers import Deliver, family_in, latest_referral, staff


def local_chat(app: App, rate_limit: RateLimit | None) -> LocalChat:
    session = LocalSession()
    bot = create_bot(app.settings, session=session)
    return LocalChat(create_dispatcher(app, rate_limit=rate_limit), bot, session)


async def count(session: AsyncSession, model: type[object]) -> int:
    session.expire_all()
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# -- under 18 -------------------------------------------------------------------------------------


async def test_a_minor_gets_the_helpline_and_nothing_is_stored(
    chat: LocalChat, session: AsyncSession
) -> None:
    kid = chat.user(8101)
    await kid.send("/start")
    assert "Мне нет 18 лет" in kid.last_reply().button_texts
    await kid.click("Мне нет 18 лет")
    answer = kid.last_text
    assert "8-800-2000-122" in answer and "Детский телефон доверия" in answer
    assert "бесплатный" in answer and "анонимный" in answer
    assert "не собираю и не храню данные людей младше 18 лет" in answer
    assert kid.last_reply().buttons == [], "the consent buttons are gone"
    assert await count(session, models.User) == 0
    assert await count(session, models.Consent) == 0

    await kid.send("/start")
    assert "Мне нет 18 лет" in kid.last_reply().button_texts, "the same choice again"
    assert await count(session, models.User) == 0


async def test_a_minor_who_chose_a_region_anonymously_loses_even_that(chat: LocalChat) -> None:
    kid = chat.user(8102)
    await kid.send("/start")
    await kid.click("Смотреть анонимно")
    await kid.click("Тамбовская область")
    await kid.send("/start")
    await kid.click("Мне нет 18 лет")
    state = await chat.dp.storage.get_data(key=_key(chat, 8102))
    assert state == {}, "no region, no language, nothing kept in the FSM either"


async def test_an_adult_who_consented_and_then_says_under_18_is_told_about_forget(
    chat: LocalChat,
) -> None:
    anna = await family_in(chat, 8103, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/start")
    await anna.press(anna.last_reply(), "cns:u")  # a consent screen from before, say
    assert "/forget" in anna.last_text


async def test_the_english_client_gets_an_english_helpline_text(chat: LocalChat) -> None:
    kid = chat.user(8104, language_code="en")
    await kid.send("/start")
    await kid.click("I am under 18")
    assert "8-800-2000-122" in kid.last_text and "Children's Helpline" in kid.last_text


def _key(chat: LocalChat, user_id: int) -> StorageKey:
    return StorageKey(bot_id=chat.bot.id, chat_id=user_id, user_id=user_id)


# -- deep links -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["join-", "join-../../etc/passwd", "join-" + "A" * 65, "join-abc def", "join-абв", "join-%00"],
)
async def test_a_malformed_invite_token_is_refused_without_a_lookup(
    chat: LocalChat, payload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import people

    async def must_not_be_called(*args: object, **kwargs: object) -> object:
        raise AssertionError("a malformed token must not reach the database")

    monkeypatch.setattr(people, "redeem_invite", must_not_be_called)
    anna = chat.user(8201)
    replies = await anna.send(f"/start {payload}")
    assert replies and "Приглашение не найдено" in replies[-1].text


async def test_a_well_formed_unknown_token_is_looked_up_and_not_found(chat: LocalChat) -> None:
    anna = chat.user(8202)
    replies = await anna.send("/start join-" + "A" * 24)
    assert "Приглашение не найдено" in replies[-1].text


# -- rate limit -----------------------------------------------------------------------------------


async def test_a_flood_gets_one_friendly_line_then_silence(app: App) -> None:
    chat = local_chat(app, RateLimit(burst=3, per_seconds=60))
    anna = chat.user(8301)
    for _ in range(3):
        assert await anna.send("/help"), "within the burst every message is answered"
    replies = await anna.send("/help")
    assert [r.text for r in replies] == [
        "Слишком много сообщений, подождите немного — через несколько секунд я снова буду вас "
        "слушать."
    ]
    assert await anna.send("/help") == [], "further ones are dropped silently"
    assert await anna.send("/help") == []
    boris = chat.user(8302)
    assert await boris.send("/help"), "the limit is per person"
    metrics = chat.dp["metrics"]
    assert metrics.throttled.labels("message")._value.get() == 3


async def test_a_button_over_the_limit_gets_an_alert(app: App) -> None:
    chat = local_chat(app, RateLimit(burst=2, per_seconds=60))
    anna = chat.user(8303)
    await anna.send("/start")
    consent = anna.last_reply()
    await anna.press(consent, "cns:n")  # the second update: still within the burst
    before = len(chat.session.answers)
    assert await anna.press(consent, "cns:n") == []
    answer = chat.session.answers[before]
    assert answer.show_alert and answer.text and "Слишком много нажатий" in answer.text


async def test_the_bucket_refills_over_time(app: App) -> None:
    from bot.middlewares.throttle import ThrottleMiddleware

    now = [0.0]
    throttle = ThrottleMiddleware(
        app.texts, RateLimit(burst=2, per_seconds=10), monotonic=lambda: now[0]
    )
    assert throttle._take(1, now[0]) is None
    assert throttle._take(1, now[0]) is None
    assert throttle._take(1, now[0]) is not None
    now[0] = 5.0  # half the window: one token back
    assert throttle._take(1, now[0]) is None
    assert throttle._take(1, now[0]) is not None


# -- attachment size ------------------------------------------------------------------------------

MB = 1024 * 1024


def _message(user_id: int, **content: object) -> Message:
    return Message(
        message_id=1,
        date=dt.datetime.now(dt.UTC),
        chat=Chat(id=user_id, type="private"),
        from_user=User(id=user_id, is_bot=False, first_name="Анна", language_code="ru"),
        **content,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "content",
    [
        {"document": Document(file_id="d", file_unique_id="d", file_size=21 * MB)},
        {
            "photo": [
                PhotoSize(file_id="p", file_unique_id="p", width=9, height=9, file_size=25 * MB)
            ]
        },
        {"voice": Voice(file_id="v", file_unique_id="v", duration=900, file_size=30 * MB)},
        {
            "video": Video(
                file_id="x", file_unique_id="x", width=1, height=1, duration=1, file_size=2000 * MB
            )
        },
    ],
)
async def test_an_attachment_over_20_mb_is_answered_and_stops_there(
    chat: LocalChat, content: dict[str, object], session: AsyncSession
) -> None:
    await chat.feed({"message": _message(8401, **content)})
    [reply] = chat.session.chats[8401]
    assert "слишком большой" in reply.text and "20 МБ" in reply.text


async def test_a_message_with_no_person_behind_it_is_ignored(chat: LocalChat) -> None:
    group = Chat(id=-100_8403, type="supergroup", title="Группа")
    anonymous_admin = Message(
        message_id=1,
        date=dt.datetime.now(dt.UTC),
        chat=group,
        sender_chat=group,
        text="пособие на ребёнка",
    )
    await chat.feed({"message": anonymous_admin})
    bot_user = User(id=8404, is_bot=True, first_name="Другой бот")
    await chat.feed(
        {"message": _message(8404, text="/start").model_copy(update={"from_user": bot_user})}
    )
    assert chat.session.requests == []


async def test_an_attachment_under_the_cap_reaches_the_handlers(chat: LocalChat) -> None:
    document = Document(file_id="d", file_unique_id="d", file_size=19 * MB)
    await chat.feed({"message": _message(8402, document=document)})
    [reply] = chat.session.chats[8402]
    assert "слишком большой" not in reply.text


# -- no personal data in logs ---------------------------------------------------------------------


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# aiosqlite logs every statement *with its parameters* at DEBUG, so `python -m bot` keeps it at
# INFO whatever LOG_LEVEL says (bot/cli.py); everything else is captured at DEBUG.
QUIETED = {"aiosqlite": logging.INFO}


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    root = logging.getLogger()
    handler = _Everything()
    level = root.level
    quieted = {name: logging.getLogger(name).level for name in QUIETED}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, quiet_level in QUIETED.items():
        logging.getLogger(name).setLevel(quiet_level)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, old_level in quieted.items():
            logging.getLogger(name).setLevel(old_level)


def _rendered(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


async def test_a_whole_journey_leaves_no_personal_data_in_the_logs(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    all_logs: list[logging.LogRecord],
) -> None:
    secrets = {
        "family name": "Евлампия",
        "volunteer name": "Ольга",
        "phone": "+79001234567",
        "phone digits": "9001234567",
        "search": "выплата многодетным Евлампиевым",
        "description": "Муж пьёт, денег нет, помогите Евлампии",
        "volunteer text": "Перезвоню вам завтра утром насчёт пособия",
        "family text": "Жду звонка после обеда, дети спят",
    }
    olga = await staff(app, chat, 8501, "tam-opora-demo")
    family = chat.user(8502, first_name=secrets["family name"])
    await family.send("/start")
    await family.click("✅ Согласен(на)")
    await family.click("Тамбовская область")
    await family.send("Тамбов")
    await family.click("г. Тамбов")
    await family.send(secrets["search"])

    await family.send("/request")
    await family.click("💬 Психологическая помощь")
    await family.click("📍")
    await family.send(secrets["description"])
    await family.click("📞 Дать номер")
    await family.send_contact(secrets["phone"])
    await family.click("✅ Да, передать")
    await deliver()
    number = (await latest_referral(session)).id
    await olga.click("✅ Принять")
    await olga.click("✉️ Написать семье")
    await olga.send(secrets["volunteer text"])
    await deliver()
    await family.click("↩️ Ответить")
    await family.send(secrets["family text"])
    await deliver()
    assert secrets["family text"] in olga.messages[-1].text, "the journey really happened"
    assert any(secrets["volunteer text"] in sent.text for sent in family.messages)
    assert (await latest_referral(session)).id == number

    assert all_logs, "logging was captured"
    leaks = sorted(
        {
            (what, record.name, record.levelname, str(record.msg)[:60])
            for record in all_logs
            for what, value in secrets.items()
            if value in _rendered(record)
        }
    )
    assert leaks == [], "\n".join(map(str, leaks))


# -- groups ---------------------------------------------------------------------------------------


async def test_in_a_group_only_commands_get_a_pointer_to_a_private_chat(
    chat: LocalChat, session: AsyncSession
) -> None:
    from aiogram.methods import SendMessage
    from aiogram.types import CallbackQuery

    person = User(id=4401, is_bot=False, first_name="Анна", language_code="ru")
    group = Chat(id=-100_4401, type="supergroup", title="Родители 5А")

    def in_group(message_id: int, text: str) -> Message:
        return Message(
            message_id=message_id,
            date=dt.datetime.now(dt.UTC),
            chat=group,
            from_user=person,
            text=text,
        )

    await chat.feed({"message": in_group(1, "маткапитал")})
    await chat.feed({"message": in_group(2, "помогите с ипотекой, у нас трое детей")})
    assert chat.session.requests == []  # nothing said in front of the group
    assert await count(session, models.SearchLog) == 0  # and nothing stored

    await chat.feed({"message": in_group(3, "/start")})
    [answer] = chat.session.requests
    assert isinstance(answer, SendMessage)
    assert answer.chat_id == group.id
    assert "только в личных сообщениях" in answer.text

    query = CallbackQuery(
        id="q1", from_user=person, chat_instance="g", message=in_group(4, "x"), data="cns:a"
    )
    await chat.feed({"callback_query": query})
    # A button pressed in a group changes nothing, and only the person who pressed it is told.
    [pressed] = chat.session.answers
    assert pressed.callback_query_id == "q1" and pressed.show_alert
    assert "только в личных сообщениях" in (pressed.text or "")
    assert len(chat.session.requests) == 2, "nothing sent to the group"
    assert await count(session, models.User) == 0

    anna = chat.user(4401)
    await anna.send("маткапитал")  # the same person, privately, is answered as usual
    assert "маткапитал" in anna.last_text
