"""Fault injection: Telegram errors, a dropped database, Redis down, redelivery, a crash between
receipt and commit, two replicas competing for the scheduler, start-up retries.

Each test states the fault and what must still hold; the README's fault table summarises them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import Update
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App
from bot.factory import create_bot, create_dispatcher, create_storage
from bot.jobs import start_jobs, stop_jobs
from bot.leader import Leader
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession
from bot.retry import StartupError, database_unavailable, retry
from bot.runner import wait_for_dependencies
from bot.scheduler import SchedulerJobs
from bot.sla import SlaTimers
from db import models
from db.engine import create_engine
from tests.referral_helpers import Deliver, family_in, latest_referral, request_help, staff

APOLOGY = "что-то пошло не так"


def telegram_fault(kind: str) -> TelegramAPIError:
    method = SendMessage(chat_id=1, text="x")
    return {
        # Longer than a handler waits (MAX_RETRY_AFTER): the answer fails, as a 429 did before.
        "429": TelegramRetryAfter(method, "Too Many Requests: retry after 60", 60),
        "500": TelegramServerError(method, "Internal Server Error"),
        "403": TelegramForbiddenError(method, "Forbidden: bot was blocked by the user"),
        "timeout": TelegramNetworkError(method, "Request timeout error"),
    }[kind]


FAULTS = ["429", "500", "403", "timeout"]


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def failures(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.name == "handlers.errors"]


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logger = logging.getLogger("handlers.errors")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def count(session: AsyncSession, model: type[object], *where: Any) -> int:
    session.expire_all()
    query = select(func.count()).select_from(model)
    if where:
        query = query.where(*where)
    return int(await session.scalar(query) or 0)


# -- Telegram answers 429 / 500 / 403 / times out in the middle of a flow -------------------------


@pytest.mark.parametrize("kind", FAULTS)
async def test_consent_is_kept_when_the_next_telegram_call_fails(
    chat: LocalChat, session: AsyncSession, error_log: ErrorLog, kind: str
) -> None:
    anna = chat.user(9101)
    await anna.send("/start")
    chat.session.fail_next("editMessageText", telegram_fault(kind))
    await anna.click("✅ Согласен(на)")
    assert APOLOGY in anna.last_text, "the person hears something instead of silence"
    assert await count(session, models.User, models.User.messenger_id == 9101) == 1
    assert await count(session, models.Consent) == 1, "the consent was committed before the call"
    assert any(type(telegram_fault(kind)).__name__ in line for line in error_log.failures())
    await anna.send("/start")
    assert "В каком регионе" in anna.last_text, "the next update works and knows the consent"


@pytest.mark.parametrize("kind", FAULTS)
async def test_a_relayed_message_is_delivered_even_if_its_receipt_fails(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    error_log: ErrorLog,
    kind: str,
) -> None:
    olga = await staff(app, chat, 9111, "tam-opora-demo")
    anna = await family_in(chat, 9112, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    await olga.click("✅ Принять")
    await olga.click("✉️ Написать семье")
    chat.session.fail_next("sendMessage", telegram_fault(kind))  # the "✓ Передано" receipt
    await olga.send("Позвоню в пять")
    assert APOLOGY in olga.last_text
    await deliver()
    assert "Позвоню в пять" in anna.last_text, "the relay was committed and goes out"
    assert await count(session, models.RelayMessage) == 1
    assert error_log.failures()


@pytest.mark.parametrize("kind", FAULTS)
async def test_a_region_choice_is_kept_when_answering_the_button_fails(
    chat: LocalChat, session: AsyncSession, kind: str
) -> None:
    anna = chat.user(9121)
    await anna.send("/start")
    await anna.click("✅ Согласен(на)")
    chat.session.fail_next("answerCallbackQuery", telegram_fault(kind))
    await anna.click("Тамбовская область")
    user = await session.scalar(select(models.User).where(models.User.messenger_id == 9121))
    assert user is not None and user.region_code == "RU-TAM"


@pytest.mark.parametrize("kind", FAULTS)
async def test_a_request_survives_telegram_failing_on_the_send_button(
    chat: LocalChat, session: AsyncSession, app: App, kind: str
) -> None:
    await staff(app, chat, 9131, "tam-opora-demo")
    anna = await family_in(chat, 9132, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна консультация")
    await anna.click("💬 Через бота")
    # The button first removes its keyboard: that call fails, and it is only cosmetic, so
    # the request is saved all the same on this very press.
    chat.session.fail_next("editMessageReplyMarkup", telegram_fault(kind))
    await anna.click("✅ Да, передать")
    assert APOLOGY not in anna.last_text
    assert await count(session, models.Referral) == 1
    referral = await latest_referral(session)
    assert referral.description == "Нужна консультация"


async def test_the_apology_failing_too_is_logged_not_raised(
    chat: LocalChat, session: AsyncSession, error_log: ErrorLog
) -> None:
    anna = chat.user(9141)
    await anna.send("/start")
    blocked = telegram_fault("403")
    chat.session.fail_next("editMessageText", blocked)
    chat.session.fail_next("sendMessage", blocked)  # the apology: the person blocked the bot
    await anna.click("✅ Согласен(на)")
    assert any("could not apologise" in line for line in error_log.failures())
    assert await count(session, models.Consent) == 1


# -- the database drops in the middle of a dialogue -----------------------------------------------


class FlakySessions:
    """A session factory that, while `down`, fails like an unreachable database."""

    def __init__(self, real: async_sessionmaker[AsyncSession]) -> None:
        self.real = real
        self.down = False
        self.refused = 0

    def __call__(self) -> AsyncSession:
        if self.down:
            self.refused += 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))
        return self.real()


@pytest.fixture
def flaky(app: App) -> tuple[FlakySessions, LocalChat]:
    sessions = FlakySessions(app.session_factory)
    broken = dataclasses.replace(app, session_factory=sessions)  # type: ignore[arg-type]
    local = LocalSession()
    dp = create_dispatcher(broken)
    return sessions, LocalChat(dp, create_bot(app.settings, session=local), local)


async def test_a_database_outage_mid_dialogue_apologises_and_the_dialogue_continues(
    app: App,
    flaky: tuple[FlakySessions, LocalChat],
    session: AsyncSession,
    deliver: Deliver,
    error_log: ErrorLog,
) -> None:
    sessions, chat = flaky
    await staff(app, chat, 9201, "tam-opora-demo")
    anna = await family_in(chat, 9202, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")

    sessions.down = True
    await anna.send("Нужна помощь юриста")
    sessions.down = False
    assert sessions.refused >= 1
    assert APOLOGY in anna.last_text
    assert any("OperationalError" in line for line in error_log.failures())
    assert any("could not record the failure" in line for line in error_log.failures()), (
        "the dead-letter note needs the database too; its failure is logged, not raised"
    )

    await anna.send("Нужна помощь юриста")  # the same dialogue step, once the DB is back
    await anna.click("💬 Через бота")
    await anna.click("✅ Да, передать")
    assert await count(session, models.Referral) == 1
    assert (await latest_referral(session)).description == "Нужна помощь юриста"


async def test_connections_killed_under_the_bot_are_replaced_transparently(
    app: App, chat: LocalChat, is_postgres: bool, error_log: ErrorLog
) -> None:
    anna = chat.user(9211)
    await anna.send("/start")
    await anna.click("✅ Согласен(на)")
    if is_postgres:
        # What a PostgreSQL restart or failover does to the pool: every connection dies.
        engine = create_engine(app.settings.database_url)
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        await engine.dispose()
    else:
        await app.engine.dispose()
    await anna.click("Тамбовская область")
    assert "город или округ" in anna.last_text, "pool pre-ping reconnected, no apology"
    assert not error_log.failures()


# -- Redis down -----------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_means_an_apology_not_a_crash(app: App, error_log: ErrorLog) -> None:
    settings = app.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    storage = create_storage(settings)
    local = LocalSession()
    chat = LocalChat(create_dispatcher(app, storage), create_bot(settings, session=local), local)
    try:
        anna = chat.user(9301)
        await anna.send("/start")
        assert APOLOGY in anna.last_text
        assert any("ConnectionError" in line for line in error_log.failures())
    finally:
        await storage.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    from redis.asyncio import Redis

    prefix = f"navtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def redis_storage(prefix: str) -> Any:
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import Redis

    return RedisStorage(
        Redis.from_url("redis://127.0.0.1:6379/0"), key_builder=DefaultKeyBuilder(prefix=prefix)
    )


async def test_a_dialogue_in_redis_survives_a_restart_of_the_bot(
    app: App, session: AsyncSession, redis_prefix: str
) -> None:
    first = redis_storage(redis_prefix)
    local = LocalSession()
    bot = create_bot(app.settings, session=local)
    before = LocalChat(create_dispatcher(app, first), bot, local)
    await staff(app, before, 9311, "tam-opora-demo")
    anna = await family_in(before, 9312, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await first.close()

    second = redis_storage(redis_prefix)  # a new process (or another replica)
    after = LocalChat(create_dispatcher(app, second), bot, local, before._update_ids)
    anna = after.user(9312)
    await anna.click("📍")
    await anna.send("Сохранилось после перезапуска")
    await anna.click("💬 Через бота")
    await anna.click("✅ Да, передать")
    await second.close()
    assert (await latest_referral(session)).description == "Сохранилось после перезапуска"


# -- the same update twice ------------------------------------------------------------------------


async def test_the_same_update_delivered_twice_at_once_is_processed_once(
    chat: LocalChat, session: AsyncSession, app: App
) -> None:
    await staff(app, chat, 9401, "tam-opora-demo")
    anna = await family_in(chat, 9402, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.click("Пропустить")
    await anna.click("💬 Через бота")
    sent, data = anna.find_button("✅ Да, передать")
    update = _press(anna, sent, data, update_id=777_001)
    # Two webhook deliveries (or two replicas) of one update, at the same moment.
    await asyncio.gather(
        chat.dp.feed_update(chat.bot, update), chat.dp.feed_update(chat.bot, update)
    )
    await chat.dp.feed_update(chat.bot, update)  # and once more, later
    assert await count(session, models.Referral) == 1
    assert await count(
        session, models.ProcessedUpdate, models.ProcessedUpdate.update_id == 777_001
    )


def _press(user: ChatUser, sent: Any, data: str, *, update_id: int) -> Update:
    from aiogram.types import CallbackQuery

    query = CallbackQuery(
        id=str(update_id),
        from_user=user.tg,
        chat_instance=f"ci{user.id}",
        message=sent.message,
        data=data,
    )
    return Update(update_id=update_id, callback_query=query)


# -- a process killed between receipt and commit --------------------------------------------------


class Killed(BaseException):
    """What a SIGKILL or a cancelled task looks like from inside: not an Exception."""


@pytest.fixture
def kill_at_first_commit(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    def arm() -> None:
        real = AsyncSession.commit
        armed = [True]

        async def commit(self: AsyncSession) -> None:
            if armed[0]:
                armed[0] = False
                raise Killed()
            await real(self)

        monkeypatch.setattr(AsyncSession, "commit", commit)

    return arm


async def test_a_crash_before_commit_is_redone_on_redelivery_and_lands_once(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    kill_at_first_commit: Callable[[], None],
) -> None:
    olga = await staff(app, chat, 9501, "tam-opora-demo")
    anna = await family_in(chat, 9502, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    await olga.click("✅ Принять")
    await olga.click("✉️ Написать семье")

    message = olga._message(text="Перезвоню через час")
    update = Update(update_id=888_001, message=message)
    kill_at_first_commit()
    with pytest.raises(Killed):
        await chat.dp.feed_update(chat.bot, update)
    assert await count(session, models.RelayMessage) == 0, "nothing half-written"
    done = await session.get(models.ProcessedUpdate, ("telegram", 888_001))
    assert done is None, "so it is redone"

    await chat.dp.feed_update(chat.bot, update)  # Telegram delivers it again after the restart
    await chat.dp.feed_update(chat.bot, update)  # and, for good measure, once more
    await deliver()
    assert await count(session, models.RelayMessage) == 1
    assert [m.text for m in anna.messages].count(anna.last_text) == 1
    assert "Перезвоню через час" in anna.last_text


async def test_a_crash_while_sending_a_request_does_not_lose_it(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    kill_at_first_commit: Callable[[], None],
) -> None:
    await staff(app, chat, 9511, "tam-opora-demo")
    anna = await family_in(chat, 9512, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Не потеряйте меня")
    await anna.click("💬 Через бота")
    sent, data = anna.find_button("✅ Да, передать")
    update = _press(anna, sent, data, update_id=888_101)
    kill_at_first_commit()
    with pytest.raises(Killed):
        await chat.dp.feed_update(chat.bot, update)
    await chat.dp.feed_update(chat.bot, update)
    assert await count(session, models.Referral) == 1


# -- two replicas and one scheduler ---------------------------------------------------------------


@pytest.fixture
async def replicas(app: App, is_postgres: bool) -> AsyncIterator[list[AsyncEngine]]:
    if not is_postgres:
        pytest.skip("advisory locks are a PostgreSQL feature; SQLite runs one process")
    engines = [create_engine(app.settings.database_url) for _ in range(3)]
    yield engines
    for engine in engines:
        await engine.dispose()


def lock_key() -> int:
    return random.randint(1, 2**62)


async def test_on_sqlite_the_single_process_is_always_the_leader(
    app: App, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("SQLite only")
    one, two = Leader(app.engine), Leader(app.engine)
    assert await one.try_acquire() and await two.try_acquire()
    await one.release()
    await two.release()


async def test_exactly_one_replica_holds_the_scheduler_lock(replicas: list[AsyncEngine]) -> None:
    key = lock_key()
    first, second = Leader(replicas[0], key=key), Leader(replicas[1], key=key)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.try_acquire(), "asking again keeps it"
        await first.release()
        assert await second.try_acquire(), "the standby takes over once the leader lets go"
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()


async def test_a_standby_takes_over_when_the_leaders_connection_dies(
    replicas: list[AsyncEngine],
) -> None:
    key = lock_key()
    first, second = Leader(replicas[0], key=key), Leader(replicas[1], key=key)
    try:
        assert await first.try_acquire()
        async with replicas[2].connect() as admin:
            await admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid}
            )
        for _ in range(50):
            if await second.try_acquire():
                break
            await asyncio.sleep(0.1)
        assert second.is_leader
        assert not await first.still_leader(), "the old leader notices and stops its jobs"
        assert not first.is_leader
    finally:
        await first.release()
        await second.release()


async def test_two_campaigning_replicas_never_lead_at_once(replicas: list[AsyncEngine]) -> None:
    key = lock_key()
    leading: set[str] = set()
    overlaps: list[set[str]] = []
    elected: list[str] = []

    def callbacks(name: str) -> tuple[Any, Any]:
        async def on_elected() -> None:
            if leading:
                overlaps.append({*leading, name})
            leading.add(name)
            elected.append(name)

        async def on_deposed() -> None:
            leading.discard(name)

        return on_elected, on_deposed

    stops = {"a": asyncio.Event(), "b": asyncio.Event()}
    leaders = {
        name: Leader(engine, key=key, retry_seconds=0.05)
        for name, engine in zip("ab", replicas, strict=False)
    }
    tasks = {
        name: asyncio.create_task(leaders[name].run(*callbacks(name), stops[name]))
        for name in "ab"
    }
    try:
        for _ in range(100):
            if elected:
                break
            await asyncio.sleep(0.05)
        first = elected[0]
        other = "b" if first == "a" else "a"
        await asyncio.sleep(0.3)
        assert elected == [first], "the other one stays a standby"
        stops[first].set()  # the leader shuts down (SIGTERM): jobs stop, then the lock goes
        await tasks[first]
        for _ in range(100):
            if len(elected) == 2:
                break
            await asyncio.sleep(0.05)
        assert elected == [first, other]
        assert overlaps == []
    finally:
        for stop in stops.values():
            stop.set()
        await asyncio.gather(*tasks.values())


async def test_a_campaigning_leader_stops_its_jobs_when_its_connection_dies(
    replicas: list[AsyncEngine],
) -> None:
    key = lock_key()
    events: list[str] = []

    def recorder(name: str) -> tuple[Any, Any]:
        async def on_elected() -> None:
            events.append(f"{name} elected")

        async def on_deposed() -> None:
            events.append(f"{name} deposed")

        return on_elected, on_deposed

    first = Leader(replicas[0], key=key, retry_seconds=0.3)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running_first = asyncio.create_task(first.run(*recorder("first"), stop_first))
    running_second: asyncio.Task[None] | None = None
    try:
        for _ in range(100):
            if first.backend_pid:
                break
            await asyncio.sleep(0.05)
        second = Leader(replicas[1], key=key, retry_seconds=0.1)
        running_second = asyncio.create_task(second.run(*recorder("second"), stop_second))
        await asyncio.sleep(0.5)
        assert events == ["first elected"]
        async with replicas[2].connect() as admin:
            await admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid}
            )
        for _ in range(100):
            if "second elected" in events and "first deposed" in events:
                break
            await asyncio.sleep(0.05)
        assert "first deposed" in events and "second elected" in events
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(running_first, *([running_second] if running_second else []))


async def test_jobs_stop_and_start_again_when_leadership_moves(app: App) -> None:
    jobs = SchedulerJobs()
    timers = SlaTimers(jobs, app.session_factory, app.clock, app.catalogue, app.sla, app.notifier)
    replica = dataclasses.replace(app, jobs=jobs, timers=timers)
    bot = create_bot(app.settings, session=LocalSession())
    try:
        await start_jobs(replica, bot)
        assert jobs.scheduler.running and jobs.scheduler.get_job("sla:sweep")
        await stop_jobs(replica)
        assert not jobs.scheduler.running
        await start_jobs(replica, bot)  # elected again later
        assert jobs.scheduler.running and jobs.scheduler.get_job("sla:sweep")
    finally:
        await stop_jobs(replica)


# -- start-up retries -----------------------------------------------------------------------------


async def test_start_up_waits_for_the_database_with_clear_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = [0]
    waits: list[float] = []

    async def flaky_connect() -> str:
        attempts[0] += 1
        if attempts[0] < 4:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        return "connected"

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    caplog.set_level(logging.WARNING, logger="bot.retry")
    result = await retry("database", flaky_connect, retry_if=database_unavailable, sleep=no_sleep)
    assert result == "connected"
    assert waits == [1, 2, 4]
    assert [r.getMessage() for r in caplog.records] == [
        "database not reachable (OperationalError), retry 1/10 in 1 s",
        "database not reachable (OperationalError), retry 2/10 in 2 s",
        "database not reachable (OperationalError), retry 3/10 in 4 s",
    ]


async def test_start_up_gives_up_with_a_final_line_and_does_not_retry_config_errors() -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("refused")

    async def no_sleep(seconds: float) -> None:
        return None

    with pytest.raises(
        StartupError,
        match=r"^redis not reachable \(ConnectionRefusedError\) after 4 attempts, giving up$",
    ):
        await retry("redis", refused, retries=3, sleep=no_sleep)

    calls = [0]

    async def bad_password() -> None:
        calls[0] += 1
        raise ValueError("password authentication failed")

    with pytest.raises(ValueError):
        await retry("database", bad_password, retry_if=database_unavailable, sleep=no_sleep)
    assert calls == [1]


async def test_an_unreachable_database_at_start_up_is_a_clear_startup_error(app: App) -> None:
    from bot.app import build_app

    settings = app.settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/x"}
    )
    dead = build_app(settings)
    try:
        with pytest.raises(
            StartupError, match=r"^database not reachable \(\w+\) after 2 attempts"
        ):
            await wait_for_dependencies(
                dead,
                create_bot(settings, session=LocalSession()),
                create_storage(settings),
                retries=1,
                first_delay=0.01,
            )
    finally:
        await dead.close()
