"""The outbox worker: limits, retries, 403/400 handling, privacy, replicas, shutdown, HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections import deque
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import CopyMessage, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.factory import create_bot
from bot.local_session import LocalSession
from bot.outbox_worker import OutboxWorker, UnreachableHook
from core import outbox
from core.clock import Clock, FrozenClock, SystemClock
from db import models
from db.enums import OutboxStatus
from tests.fake_telegram import FakeTelegram

SECOND = dt.timedelta(seconds=1)
PROBE = SendMessage(chat_id=1, text="probe")


def render(
    kind: str, lang: str, params: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup | None]:
    if kind == "no.such.template":
        raise KeyError(kind)
    return f"{kind}:{params.get('n')}", None


def render_relay(
    kind: str, lang: str, params: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup | None]:
    return f"№{params['number']}: {params.get('text') or params.get('caption')}", None


class VirtualTime:
    """monotonic() and sleep() for the worker: sleeping advances time instantly and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TimedSession(LocalSession):
    """LocalSession that notes when (virtual time) each request was made and yields once."""

    def __init__(
        self, time: VirtualTime | None = None, journal: list[tuple[int, str]] | None = None
    ) -> None:
        super().__init__()
        self.time = time
        self.journal = journal if journal is not None else []  # (chat_id, text), in send order
        self.sends: list[tuple[float, int, str]] = []  # (time, chat_id, text or caption)
        self.raise_next: deque[BaseException] = deque()
        self.blocked_by: set[int] = set()  # chats whose person blocked the bot
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)  # a real session would yield here: let the other worker run
        if isinstance(method, SendMessage | CopyMessage):
            text = method.text if isinstance(method, SendMessage) else method.caption or ""
            at = self.time.now if self.time else 0.0
            self.sends.append((at, int(method.chat_id), text))
        if self.raise_next:
            raise self.raise_next.popleft()
        if int(getattr(method, "chat_id", 0) or 0) in self.blocked_by:
            raise TelegramForbiddenError(method, "Forbidden: bot was blocked by the user")
        result = await super().make_request(bot, method, timeout)
        if isinstance(method, SendMessage):
            self.journal.append((int(method.chat_id), method.text))
        return result

    def texts_to(self, chat_id: int) -> list[str]:
        return [sent.text for sent in self.chats[chat_id]]


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def telegram(vtime: VirtualTime) -> TimedSession:
    return TimedSession(vtime)


def make_worker(
    app: App,
    clock: FrozenClock,
    local: TimedSession,
    vtime: VirtualTime,
    **kwargs: Any,
) -> OutboxWorker:
    kwargs.setdefault("render", render)
    return OutboxWorker(
        app.session_factory,
        create_bot(app.settings, session=local),
        clock,
        monotonic=vtime.monotonic,
        sleep=vtime.sleep,
        **kwargs,
    )


async def queue(app: App, clock: Clock, *chats: int, start: int = 1, **kwargs: Any) -> list[int]:
    """One notification per chat id given, numbered n=start, start+1, … in that order."""
    async with app.session_factory() as session:
        rows = [
            outbox.notify(
                session,
                clock,
                channel="telegram",
                chat_id=chat,
                lang="ru",
                kind="k",
                params={"n": n},
                **kwargs,
            )
            for n, chat in enumerate(chats, start=start)
        ]
        await session.commit()
        return [row.id for row in rows]


async def load(app: App) -> dict[int, models.OutboxMessage]:
    async with app.session_factory() as session:
        rows = await session.scalars(select(models.OutboxMessage))
        return {row.id: row for row in rows}


async def add_user(app: App, clock: FrozenClock, messenger_id: int) -> None:
    async with app.session_factory() as session:
        now = clock.now()
        session.add(models.User(messenger_id=messenger_id, created_at=now, last_seen_at=now))
        await session.commit()


# -- sending and ordering ---------------------------------------------------------------------


async def test_due_rows_are_sent_and_marked_sent(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    ids = await queue(app, clock, 301, 302, 301)
    worker = make_worker(app, clock, telegram, vtime)

    assert await worker.drain() == 3

    assert telegram.texts_to(301) == ["k:1", "k:3"]
    assert telegram.texts_to(302) == ["k:2"]
    for row in (await load(app)).values():
        assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, None)
        assert row.sent_at == clock.now()
    assert await worker.drain() == 0
    assert len(telegram.sends) == 3
    assert set(await load(app)) == set(ids)


async def test_copy_rows_copy_the_message_with_a_rendered_caption(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    async with app.session_factory() as session:
        outbox.copy(
            session,
            clock,
            channel="telegram",
            chat_id=303,
            lang="ru",
            from_chat_id=777,
            message_id=5,
            caption_kind="relay.photo",
            params={"n": 9},
        )
        await session.commit()

    assert await make_worker(app, clock, telegram, vtime).drain() == 1

    (request,) = [r for r in telegram.requests if isinstance(r, CopyMessage)]
    assert (request.chat_id, request.from_chat_id, request.message_id) == (303, 777, 5)
    assert request.caption == "relay.photo:9"


async def test_a_message_waits_for_its_not_before(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    await queue(app, clock, 304, not_before=clock.now() + dt.timedelta(minutes=10))
    worker = make_worker(app, clock, telegram, vtime)

    assert await worker.drain() == 0
    assert telegram.sends == []
    clock.advance(dt.timedelta(minutes=10))
    assert await worker.drain() == 1


async def test_a_chat_gets_its_messages_in_order_even_behind_a_retry(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    # The oldest message of chat 305 waits for a retry: the newer ones must not overtake it.
    [retried] = await queue(app, clock, 305, not_before=clock.now() + 30 * SECOND)
    async with app.session_factory() as session:
        row = await session.get(models.OutboxMessage, retried)
        assert row is not None
        row.attempts = 1  # it was tried once already
        await session.commit()
    await queue(app, clock, 305, 306, 305, start=2)
    worker = make_worker(app, clock, telegram, vtime)

    assert await worker.drain() == 1
    assert telegram.texts_to(305) == []
    assert telegram.texts_to(306) == ["k:3"]

    clock.advance(30 * SECOND)
    assert await worker.drain() == 3
    assert telegram.texts_to(305) == ["k:1", "k:2", "k:4"]


async def test_a_message_scheduled_for_later_does_not_hold_back_todays(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    # A reminder for tomorrow, never tried, is not in the way of a message queued after it.
    await queue(app, clock, 309, not_before=clock.now() + 3600 * SECOND)
    await queue(app, clock, 309, start=2)
    worker = make_worker(app, clock, telegram, vtime)
    assert await worker.drain() == 1
    assert telegram.texts_to(309) == ["k:2"]
    clock.advance(3600 * SECOND)
    assert await worker.drain() == 1
    assert telegram.texts_to(309) == ["k:2", "k:1"]


# -- Telegram errors --------------------------------------------------------------------------


async def test_flood_control_keeps_the_row_and_pauses_the_whole_worker(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    first, second = await queue(app, clock, 307, 308)
    telegram.fail_next("sendMessage", TelegramRetryAfter(PROBE, "Too Many Requests", 5))
    worker = make_worker(app, clock, telegram, vtime)

    assert await worker.drain() == 1

    rows = await load(app)
    assert rows[first].status == OutboxStatus.PENDING
    assert rows[first].attempts == 1
    assert rows[first].not_before == clock.now() + 5 * SECOND
    assert (rows[first].last_error or "").startswith("TelegramRetryAfter: ")
    assert rows[second].status == OutboxStatus.SENT
    # The other chat's message waited out the flood pause too.
    (refused, _), (accepted, _) = [(at, chat) for at, chat, _ in telegram.sends]
    assert accepted - refused >= 5
    assert sum(vtime.sleeps) >= 5

    assert await worker.drain() == 0  # not due yet
    clock.advance(5 * SECOND)
    assert await worker.drain() == 1
    assert telegram.texts_to(307) == ["k:1"]
    assert (await load(app))[first].attempts == 2


@pytest.mark.parametrize(
    "error",
    [
        TelegramServerError(PROBE, "Internal Server Error"),
        TelegramNetworkError(PROBE, "ClientConnectorError"),
        TimeoutError(),
    ],
    ids=["5xx", "network", "timeout"],
)
async def test_transient_errors_back_off_then_give_up_after_max_attempts(
    app: App,
    clock: FrozenClock,
    telegram: TimedSession,
    vtime: VirtualTime,
    error: BaseException,
) -> None:
    (row_id,) = await queue(app, clock, 309)
    telegram.raise_next.extend([error] * 4)
    worker = make_worker(app, clock, telegram, vtime, max_attempts=4)

    delays = []
    for attempt in range(1, 4):
        assert await worker.drain() == 0
        row = (await load(app))[row_id]
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, attempt)
        delays.append((row.not_before - clock.now()).total_seconds())
        assert await worker.drain() == 0  # nothing before the backoff ends
        clock.advance(row.not_before - clock.now())
    assert delays == [2, 4, 8]

    assert await worker.drain() == 0
    row = (await load(app))[row_id]
    assert (row.status, row.attempts) == (OutboxStatus.GIVEN_UP, 4)
    assert (row.last_error or "").startswith(type(error).__name__)
    assert len(telegram.sends) == 4


async def test_backoff_is_capped_at_ten_minutes(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    (row_id,) = await queue(app, clock, 310)
    async with app.session_factory() as session:
        row = await session.get(models.OutboxMessage, row_id)
        assert row is not None
        row.attempts = 11
        await session.commit()
    telegram.raise_next.append(TelegramServerError(PROBE, "Bad Gateway"))

    await make_worker(app, clock, telegram, vtime, max_attempts=20).drain()

    row = (await load(app))[row_id]
    assert row.not_before - clock.now() == dt.timedelta(seconds=600)


async def test_a_blocked_bot_marks_the_user_unreachable_and_calls_the_hook_once(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    await add_user(app, clock, 311)
    await add_user(app, clock, 312)
    first, second, other = await queue(app, clock, 311, 311, 312)
    telegram.blocked_by.add(311)
    calls: list[tuple[int, str]] = []

    async def hook(session: AsyncSession, row: models.OutboxMessage) -> None:
        calls.append((row.id, row.status))
        # What the lead's hook does: queue a note to a manager in the same transaction.
        outbox.notify(
            session,
            clock,
            channel="telegram",
            chat_id=900,
            lang="ru",
            kind="manager",
            params={"n": 0},
        )

    worker = make_worker(app, clock, telegram, vtime, on_unreachable=hook)
    assert await worker.drain() == 2  # the note to the manager and the other person's message

    assert calls == [(first, OutboxStatus.FAILED)]
    rows = await load(app)
    assert rows[first].status == rows[second].status == OutboxStatus.FAILED
    assert (
        rows[first].last_error == "TelegramForbiddenError: Forbidden: bot was blocked by the user"
    )
    assert rows[other].status == OutboxStatus.SENT
    assert telegram.texts_to(900) == ["manager:0"]
    async with app.session_factory() as session:
        users = {u.messenger_id: u for u in await session.scalars(select(models.User))}
    assert users[311].unreachable is True
    assert users[312].unreachable is False


async def test_a_failing_hook_still_records_the_block_without_sending_again(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    await add_user(app, clock, 313)
    (row_id,) = await queue(app, clock, 313)
    telegram.fail_next(
        "sendMessage", TelegramForbiddenError(PROBE, "Forbidden: user is deactivated")
    )

    async def hook(session: AsyncSession, row: models.OutboxMessage) -> None:
        outbox.notify(session, clock, channel="telegram", chat_id=900, lang="ru", kind="manager")
        raise RuntimeError("boom")

    broken: UnreachableHook = hook
    assert await make_worker(app, clock, telegram, vtime, on_unreachable=broken).drain() == 0

    rows = await load(app)
    assert list(rows) == [row_id]  # the hook's note was rolled back
    assert rows[row_id].status == OutboxStatus.FAILED
    assert len(telegram.sends) == 1
    async with app.session_factory() as session:
        user = await session.scalar(select(models.User).where(models.User.messenger_id == 313))
    assert user is not None and user.unreachable is True


async def test_a_bad_request_fails_that_row_and_the_others_still_go(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    bad, good = await queue(app, clock, 314, 315)
    description = "Bad Request: can't parse entities: " + "x" * 400
    telegram.fail_next("sendMessage", TelegramBadRequest(PROBE, description))

    assert await make_worker(app, clock, telegram, vtime).drain() == 1

    rows = await load(app)
    assert rows[bad].status == OutboxStatus.FAILED
    last_error = rows[bad].last_error or ""
    assert last_error.startswith("TelegramBadRequest: Bad Request: can't parse entities")
    assert len(last_error) == 300
    assert rows[good].status == OutboxStatus.SENT


async def test_an_unknown_kind_fails_without_calling_telegram(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    async with app.session_factory() as session:
        bad = outbox.notify(
            session, clock, channel="telegram", chat_id=316, lang="ru", kind="no.such.template"
        )
        outbox.notify(
            session, clock, channel="telegram", chat_id=316, lang="ru", kind="k", params={"n": 2}
        )
        await session.commit()

    assert await make_worker(app, clock, telegram, vtime).drain() == 1

    row = (await load(app))[bad.id]
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "cannot render: KeyError")
    assert telegram.texts_to(316) == ["k:2"]  # the failed one no longer holds the chat up


async def test_a_migrated_group_gets_the_message_at_its_new_id(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    (row_id,) = await queue(app, clock, -317)
    telegram.fail_next("sendMessage", TelegramMigrateToChat(PROBE, "migrated", -100317))
    worker = make_worker(app, clock, telegram, vtime)

    await worker.drain()
    await worker.drain()

    assert telegram.texts_to(-100317) == ["k:1"]
    assert (await load(app))[row_id].chat_id == -100317


# -- privacy ----------------------------------------------------------------------------------


async def test_relayed_text_is_removed_from_the_outbox_once_handled(
    app: App,
    clock: FrozenClock,
    telegram: TimedSession,
    vtime: VirtualTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "у сына ДЦП, паспорт 1234 567890"
    async with app.session_factory() as session:
        sent = outbox.notify(
            session,
            clock,
            channel="telegram",
            chat_id=318,
            lang="ru",
            kind="relay.text",
            params={"number": 7, "text": secret},
        )
        failed = outbox.copy(
            session,
            clock,
            channel="telegram",
            chat_id=319,
            lang="ru",
            from_chat_id=318,
            message_id=3,
            caption_kind="relay.caption",
            params={"number": 7, "caption": secret},
        )
        await session.commit()
    telegram.fail_next(
        "copyMessage", TelegramBadRequest(PROBE, "Bad Request: message to copy not found")
    )
    caplog.set_level(logging.DEBUG, logger="bot.outbox_worker")

    await make_worker(app, clock, telegram, vtime, render=render_relay).drain()

    assert telegram.texts_to(318) == [f"№7: {secret}"]
    rows = await load(app)
    assert rows[sent.id].status == OutboxStatus.SENT
    assert rows[sent.id].payload["params"] == {"number": 7, "text": ""}
    assert rows[failed.id].status == OutboxStatus.FAILED
    assert rows[failed.id].payload["params"] == {"number": 7, "caption": ""}
    assert rows[failed.id].payload["message_id"] == 3
    assert caplog.records
    assert secret not in caplog.text


# -- limits -----------------------------------------------------------------------------------


async def test_at_most_25_messages_a_second_overall(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    await queue(app, clock, *range(1000, 1100))
    start = vtime.now

    assert await make_worker(app, clock, telegram, vtime).drain() == 100

    times = [at for at, _, _ in telegram.sends]
    assert len(times) == 100
    # 100 sends are 99 gaps of 1/25 s; no one-second window holds more than 25.
    assert times[-1] - times[0] >= 99 / 25 - 1e-9
    assert vtime.now - start >= 99 / 25 - 1e-9
    for i, at in enumerate(times):
        assert sum(1 for other in times[i:] if other < at + 1 - 1e-9) <= 25


async def test_at_most_one_message_a_second_per_chat_without_holding_up_others(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    await queue(app, clock, 320, 320, 320, 320, 320, 321)

    assert await make_worker(app, clock, telegram, vtime).drain() == 6

    busy = [at for at, chat, _ in telegram.sends if chat == 320]
    assert telegram.texts_to(320) == ["k:1", "k:2", "k:3", "k:4", "k:5"]
    assert busy[-1] - busy[0] >= 4 - 1e-9
    assert all(b - a >= 1 - 1e-9 for a, b in itertools.pairwise(busy))
    (other,) = [at for at, chat, _ in telegram.sends if chat == 321]
    assert other - busy[0] < 1  # the other chat did not queue behind the busy one


async def test_the_limits_hold_across_drains(
    app: App, clock: FrozenClock, telegram: TimedSession, vtime: VirtualTime
) -> None:
    worker = make_worker(app, clock, telegram, vtime)
    await queue(app, clock, 322)
    await worker.drain()
    await queue(app, clock, 322)
    await worker.drain()

    first, second = [at for at, _, _ in telegram.sends]
    assert second - first >= 1 - 1e-9


# -- replicas ---------------------------------------------------------------------------------


async def test_two_workers_draining_together_send_each_row_once(
    app: App, clock: FrozenClock
) -> None:
    chats = [2000 + i % 20 for i in range(60)]
    await queue(app, clock, *chats)
    journal: list[tuple[int, str]] = []
    sessions = [TimedSession(VirtualTime(), journal) for _ in range(2)]
    workers = [make_worker(app, clock, s, s.time or VirtualTime()) for s in sessions]

    counts = await asyncio.gather(*(worker.drain() for worker in workers))

    assert sum(counts) == 60
    assert sorted(text for _, text in journal) == sorted(f"k:{n}" for n in range(1, 61))
    assert {row.status for row in (await load(app)).values()} == {OutboxStatus.SENT}
    for chat in set(chats):  # and each chat still got its messages in order
        numbers = [int(text.split(":")[1]) for c, text in journal if c == chat]
        assert numbers == sorted(numbers)


# -- the loop ---------------------------------------------------------------------------------


async def wait_for(condition: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (polls what another task changes)
            await asyncio.sleep(0.01)


async def test_run_sends_on_wake_and_stops(app: App, clock: FrozenClock) -> None:
    local = TimedSession()
    worker = OutboxWorker(
        app.session_factory, create_bot(app.settings, session=local), clock, render
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll_seconds=60))
    await asyncio.sleep(0.05)

    await queue(app, clock, 323)
    worker.wake()
    await wait_for(lambda: local.texts_to(323) == ["k:1"])

    stop.set()
    await asyncio.wait_for(task, 1)


async def test_a_commit_that_queues_a_message_wakes_the_worker_by_itself(
    app: App, clock: FrozenClock
) -> None:
    app.outbox_wake.clear()  # rung by earlier tests' commits; nobody waited on it
    async with app.session_factory() as session:
        outbox.notify(
            session, clock, channel="telegram", chat_id=325, lang="ru", kind="k", params={"n": 1}
        )
        await session.flush()
        await session.rollback()
    assert not app.outbox_wake.is_set()

    local = TimedSession()
    worker = OutboxWorker(
        app.session_factory,
        create_bot(app.settings, session=local),
        clock,
        render,
        wake=app.outbox_wake,
    )
    stop = asyncio.Event()
    # The worker would poll only in a minute: the message arrives sooner only if woken.
    task = asyncio.create_task(worker.run(stop, poll_seconds=60))
    await asyncio.sleep(0.05)

    await queue(app, clock, 325, start=2)  # commits; no call to the worker
    await wait_for(lambda: local.texts_to(325) == ["k:2"])

    stop.set()
    await asyncio.wait_for(task, 1)


async def test_run_survives_a_database_error(
    app: App, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    class FlakyWorker(OutboxWorker):
        failures = 2

        async def drain(self) -> int:
            if self.failures:
                self.failures -= 1
                raise OperationalError("SELECT", {}, ConnectionRefusedError("db down"))
            return await super().drain()

    local = TimedSession()
    worker = FlakyWorker(
        app.session_factory, create_bot(app.settings, session=local), clock, render
    )
    await queue(app, clock, 324)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll_seconds=0.01))

    await wait_for(lambda: local.texts_to(324) == ["k:1"])
    stop.set()
    await asyncio.wait_for(task, 1)
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.outbox_worker"]
    assert warnings.count("outbox: drain failed (OperationalError), retrying") == 2
    assert not any("db down" in message for message in warnings)


async def test_stop_lets_the_message_in_flight_finish_and_starts_no_other(
    app: App, clock: FrozenClock
) -> None:
    local = TimedSession()
    local.gate = asyncio.Event()
    worker = OutboxWorker(
        app.session_factory, create_bot(app.settings, session=local), clock, render
    )
    in_flight, waiting = await queue(app, clock, 325, 326)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(local.entered.wait(), 5)

    stop.set()
    local.gate.set()
    await asyncio.wait_for(task, 1)

    rows = await load(app)
    assert rows[in_flight].status == OutboxStatus.SENT
    assert rows[waiting].status == OutboxStatus.PENDING


async def test_stop_cuts_a_flood_control_pause_short(app: App, clock: FrozenClock) -> None:
    local = TimedSession()
    local.fail_next("sendMessage", TelegramRetryAfter(PROBE, "Too Many Requests", 3600))
    worker = OutboxWorker(
        app.session_factory, create_bot(app.settings, session=local), clock, render
    )
    await queue(app, clock, 327, 328)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(local.entered.wait(), 5)
    await asyncio.sleep(0.05)

    stop.set()
    await asyncio.wait_for(task, 1)
    assert len(local.sends) == 1


# -- end to end over HTTP ---------------------------------------------------------------------


async def test_nothing_is_lost_when_telegram_answers_429_and_500_over_http(app: App) -> None:
    clock = SystemClock()
    async with FakeTelegram() as fake:
        anna = fake.user(6001, first_name="Анна", started=True)
        boris = fake.user(6002, first_name="Борис", started=True)
        await queue(app, clock, 6001, 6002, 6001)
        fake.fail_next("sendMessage", 429, retry_after=1)
        fake.fail_next("sendMessage", 500)
        settings = app.settings.model_copy(
            update={"telegram_api_url": fake.base_url, "bot_token": None}
        )
        bot = create_bot(settings)
        worker = OutboxWorker(app.session_factory, bot, clock, render)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop, poll_seconds=0.05))
        try:
            await anna.wait_reply(timeout=15, count=2)
            await boris.wait_reply(timeout=15)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            await bot.session.close()

        assert anna.texts == ["k:1", "k:3"]
        assert boris.texts == ["k:2"]
        assert len(fake.calls_to("sendMessage")) == 5  # three messages, two refusals
    rows = sorted((await load(app)).values(), key=lambda row: row.id)
    assert [(row.status, row.attempts) for row in rows] == [
        (OutboxStatus.SENT, 2),
        (OutboxStatus.SENT, 2),
        (OutboxStatus.SENT, 1),
    ]
    assert rows[0].last_error is not None and rows[0].last_error.startswith("TelegramRetryAfter")
    assert rows[1].last_error is not None and rows[1].last_error.startswith("TelegramServerError")
