"""Two messengers, one bot: people, dialogs, notifications and relay know their channel."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, Update, User
from prometheus_client import generate_latest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.cli import _parser
from bot.commands import cmd_admin_grant
from bot.digest_delivery import deliver_due_digests
from bot.factory import create_storage
from bot.jobs import JobContext, deliver_digests
from bot.local_chat import LocalChat
from bot.middlewares.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.polling import DurablePolling
from bot.web import refresh_gauges
from core import people
from core.clock import FrozenClock
from core.digest import build_digest, render_text
from db import models
from db.enums import Channel, Role
from handlers.notifications import NotificationRenderer
from tests.channel_sessions import (
    queue,
    two_messengers,
    users,
    volunteer_on,
    worker_for,
)
from tests.referral_helpers import family_in, request_help

Deliver = Callable[[], Awaitable[int]]


@pytest.fixture
def chats(app: App) -> tuple[LocalChat, LocalChat]:
    return two_messengers(app)


@pytest.fixture
def deliver(app: App, chats: tuple[LocalChat, LocalChat]) -> Deliver:
    return worker_for(app, chats).drain


# --- people ----------------------------------------------------------------------------------


async def test_the_same_number_on_two_messengers_is_two_people(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    # Both messengers number their updates from 1: update 1 of MAX is not update 1 of Telegram.
    await family_in(telegram, 5001, "Тамбовская область", "Тамбов", "г. Тамбов")
    on_max = max_chat.user(5001)
    await on_max.send("/start")
    assert "✅ Согласен(на)" in on_max.last_reply().button_texts, "a stranger on MAX is asked"
    await on_max.click("✅ Согласен(на)")
    await on_max.click("Нижегородская область")

    assert await users(session) == [
        ("max", 5001, "RU-NIZ"),
        ("telegram", 5001, "RU-TAM"),
    ]
    # Neither saw the other's conversation.
    assert all(s.chat_id == 5001 for s in telegram.session.chats[5001])
    assert "Тамбов" not in " ".join(s.text for s in on_max.messages)


async def test_dialogs_are_per_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    anna = await family_in(telegram, 5002, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")  # a dialog in progress on Telegram
    storage = telegram.dp.storage
    tg_key = StorageKey(bot_id=telegram.bot.id, chat_id=5002, user_id=5002)
    max_key = StorageKey(bot_id=max_chat.bot.id, chat_id=5002, user_id=5002)
    assert await storage.get_state(tg_key) is not None

    stranger = max_chat.user(5002)
    await stranger.send("маткапитал")  # the MAX person is not in Telegram's dialog
    assert await storage.get_state(max_key) is None
    assert await storage.get_data(max_key) == {}
    assert await storage.get_state(tg_key) is not None, "Telegram's dialog is untouched"
    assert [row[0] for row in await users(session)] == ["telegram"], "the stranger is anonymous"


# --- notifications ---------------------------------------------------------------------------


async def test_outbox_rows_go_through_their_messengers_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver
) -> None:
    telegram, max_chat = chats
    await queue(app, (Channel.TELEGRAM, 77), (Channel.MAX, 77), (Channel.MAX, 78))
    assert await deliver() == 3
    assert [s.chat_id for s in telegram.session.chats[77]] == [77]
    assert not telegram.session.chats[78]
    assert [s.chat_id for s in max_chat.session.chats[77] + max_chat.session.chats[78]] == [77, 78]


async def test_rows_of_a_messenger_without_a_bot_wait(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, _ = chats

    async def no_sleep(_: float) -> None:
        return None

    only_telegram = OutboxWorker(
        app.session_factory,
        telegram.bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    await queue(app, (Channel.MAX, 79), (Channel.TELEGRAM, 79))
    assert await only_telegram.drain() == 1
    rows = await session.execute(select(models.OutboxMessage.channel, models.OutboxMessage.status))
    statuses = {channel: status for channel, status in rows}
    assert statuses == {"telegram": "sent", "max": "pending"}
    assert telegram.session.chats[79][0].chat_id == 79


async def test_flood_control_on_one_messenger_does_not_hold_the_other(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    telegram.session.fail_next(
        "sendMessage", TelegramRetryAfter(SendMessage(chat_id=1, text="x"), "slow down", 30)
    )
    await queue(app, (Channel.TELEGRAM, 81), (Channel.MAX, 82), (Channel.MAX, 83))
    assert await deliver() == 2, "MAX goes on while Telegram waits out its 30 s"
    assert max_chat.session.chats[82] and max_chat.session.chats[83]
    assert not telegram.session.chats[81]
    pending = await session.scalar(
        select(models.OutboxMessage.channel).where(models.OutboxMessage.status == "pending")
    )
    assert pending == "telegram"


async def test_a_block_on_one_messenger_marks_only_that_person_unreachable(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    await family_in(telegram, 5003, "Тамбовская область", "Тамбов", "г. Тамбов")
    await family_in(max_chat, 5003, "Тамбовская область", "Тамбов", "г. Тамбов")
    max_chat.session.fail_next(
        "sendMessage",
        TelegramForbiddenError(SendMessage(chat_id=1, text="x"), "bot was blocked by the user"),
    )
    await queue(app, (Channel.MAX, 5003), (Channel.TELEGRAM, 5003))
    await deliver()
    session.expire_all()
    rows = await session.execute(select(models.User.channel, models.User.unreachable))
    flags = {channel: unreachable for channel, unreachable in rows}
    assert flags == {"max": True, "telegram": False}


# --- erasure and roles -----------------------------------------------------------------------


async def test_forget_on_one_messenger_erases_that_person_only(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, deliver: Deliver
) -> None:
    telegram, max_chat = chats
    await family_in(telegram, 5005, "Тамбовская область", "Тамбов", "г. Тамбов")
    on_max = await family_in(max_chat, 5005, "Нижегородская область", "Нижний", "г. Нижний")
    await queue(app, (Channel.TELEGRAM, 5005))  # a notification waiting for the Telegram one
    await on_max.send("/forget")
    await on_max.click("Да, удалить")
    assert await users(session) == [("telegram", 5005, "RU-TAM")]
    waiting = await session.scalar(select(models.OutboxMessage.channel))
    assert waiting == "telegram", "the other person's notification stays"


async def test_cli_grant_with_a_channel(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, clock: FrozenClock
) -> None:
    args = _parser().parse_args(
        [
            "admin",
            "grant",
            "--id",
            "5006",
            "--role",
            "manager",
            "--region",
            "RU-TAM",
            "--channel",
            "max",
        ]
    )
    assert await cmd_admin_grant(args, app.settings) == 0
    assert await users(session) == [("max", 5006, None)]
    telegram, max_chat = chats
    await telegram.user(5006).send("/stats")
    assert "RU-TAM" not in telegram.session.chats[5006][-1].text
    manager = max_chat.user(5006)
    await manager.send("/stats")
    assert "Тамбов" in manager.last_text


def test_cli_grant_rejects_an_unknown_channel(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(
            ["admin", "grant", "--id", "1", "--role", "admin", "--channel", "icq"]
        )
    assert exit_info.value.code == 2
    assert "invalid choice: 'icq'" in capsys.readouterr().err


async def test_admin_ids_count_on_telegram_only(
    chats: tuple[LocalChat, LocalChat],
) -> None:
    telegram, max_chat = chats
    # 900 is in ADMIN_IDS (conftest): on MAX the same number is nobody special.
    admin = telegram.user(900)
    await admin.send("/cluster")
    assert "Кластер: регионы рядом" in admin.last_text
    stranger = max_chat.user(900)
    await stranger.send("/cluster")
    assert stranger.last_text == "Сравнение регионов доступно только администраторам кластера."


async def test_the_weekly_digest_reaches_each_manager_on_their_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, clock: FrozenClock
) -> None:
    telegram, max_chat = chats
    for channel in (Channel.TELEGRAM, Channel.MAX):
        await people.grant_role(
            session,
            clock,
            messenger_id=7201,
            role=Role.MANAGER,
            region_code="RU-TAM",
            channel=channel,
        )
    clock._now = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # Monday 09:00 in Tambov
    # Only Telegram runs here: the MAX manager waits for a run that has MAX.
    assert await deliver_due_digests(app, telegram.bot, clock.now()) == 1
    assert not max_chat.session.chats[7201]
    assert await deliver_due_digests(app, [telegram.bot, max_chat.bot], clock.now()) == 1
    for chat in (telegram, max_chat):
        assert [s.kind for s in chat.session.chats[7201]] == ["text", "photo", "document"]


async def test_the_scheduled_digest_job_uses_every_running_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, clock: FrozenClock
) -> None:
    telegram, max_chat = chats
    await people.grant_role(
        session, clock, messenger_id=7202, role=Role.MANAGER, region_code="RU-TAM", channel="max"
    )
    clock._now = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # Monday 09:00 in Tambov
    ctx = JobContext(app, telegram.bot, (max_chat.bot,))  # as the leader gets it with both
    assert await deliver_digests(ctx, clock.now()) == 1
    assert [s.kind for s in max_chat.session.chats[7202]] == ["text", "photo", "document"]


# --- counting by messenger -------------------------------------------------------------------


async def test_the_digest_and_the_metrics_count_by_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    await volunteer_on(app, telegram, Channel.TELEGRAM, 5100)  # so the request stays open
    on_max = await family_in(max_chat, 5101, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(on_max, "💬 Психологическая помощь")
    await family_in(telegram, 5102, "Тамбовская область", "Тамбов", "г. Тамбов")
    await family_in(telegram, 5103, "Тамбовская область", "Тамбов", "г. Тамбов")

    digest = await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W48",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    assert digest["demand"]["by_channel"] == {
        "telegram": {"new_families": 2, "requests": 0},
        "max": {"new_families": 1, "requests": 1},
    }
    text = render_text(digest, app.texts.get("ru"), app.catalogue.view)
    assert "По мессенджерам:" in text
    assert "• MAX: новых семей — 1, заявок — 1" in text
    assert "• Telegram: новых семей — 2, заявок — 0" in text

    metrics: Metrics = telegram.dp["metrics"]
    await refresh_gauges(app, metrics)
    scraped = generate_latest(metrics.registry).decode()
    assert 'navigator_families{channel="max"} 1.0' in scraped
    assert 'navigator_families{channel="telegram"} 2.0' in scraped
    assert 'navigator_open_requests{channel="max"} 1.0' in scraped
    assert 'navigator_open_requests{channel="telegram"} 0.0' in scraped
    handled = metrics.channel_updates.labels("max", "handled")._value.get()
    assert handled >= 6, "every MAX update above is counted under max"


async def test_a_telegram_only_digest_reads_as_before(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, _ = chats
    await family_in(telegram, 5104, "Тамбовская область", "Тамбов", "г. Тамбов")
    digest = await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W48",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    assert digest["demand"]["by_channel"]["telegram"]["new_families"] == 1
    assert "мессенджер" not in render_text(digest, app.texts.get("ru"), app.catalogue.view)


async def test_polled_updates_are_kept_per_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    update = Update(
        update_id=5,
        message=Message(
            message_id=1,
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=5401, type="private"),
            from_user=User(id=5401, is_bot=False, first_name="Анна"),
            text="маткапитал",
        ),
    )
    polls = [DurablePolling(chat.dp, chat.bot, app.session_factory, app.clock) for chat in chats]
    for poll in polls:
        await poll.store([update])  # update 5 of Telegram and update 5 of MAX
    stored = select(models.ReceivedUpdate.channel, models.ReceivedUpdate.update_id)
    assert sorted((await session.execute(stored)).all()) == [("max", 5), ("telegram", 5)]
    await polls[1]._forget(5)  # MAX's was handled
    assert (await session.execute(stored)).all() == [("telegram", 5)]


async def test_dialogs_in_redis_are_per_messenger(app: App) -> None:
    prefix = f"navtest-{uuid.uuid4().hex[:12]}"
    settings = app.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    storage = create_storage(settings, prefix=prefix)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        telegram, max_chat = two_messengers(app, storage)
        anna = await family_in(telegram, 5201, "Тамбовская область", "Тамбов", "г. Тамбов")
        await anna.send("/request")
        keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}:*")]
        assert keys and all(key.startswith(f"{prefix}:{telegram.bot.id}:5201:") for key in keys)

        stranger = max_chat.user(5201)
        await stranger.send("маткапитал")
        max_key = StorageKey(bot_id=max_chat.bot.id, chat_id=5201, user_id=5201)
        assert await storage.get_state(max_key) is None
        tg_key = StorageKey(bot_id=telegram.bot.id, chat_id=5201, user_id=5201)
        assert await storage.get_state(tg_key) is not None
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await storage.close()
