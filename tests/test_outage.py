"""Telegram outages and crashes: nothing the bot owes somebody is lost or sent twice.

A long outage (the outbox keeps trying for OUTBOX_GIVE_UP_HOURS, then says so), a 429 on a
direct answer, kill -9 while polling, and a second `run` on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.instance_lock import single_instance, sqlite_path
from bot.local_chat import LocalChat
from bot.local_session import LocalSession
from bot.middlewares.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.polling import DurablePolling
from bot.runner import create_worker, run_bot
from bot.web import refresh_gauges
from core.clock import FrozenClock
from core.digest import build_digest
from db import models
from tests.fake_telegram import FakeTelegram
from tests.referral_helpers import family_in, latest_referral, manager, request_help, staff

MINUTE = dt.timedelta(minutes=1)
ADMIN = 900  # ADMIN_IDS of the test settings


class ThrottledTelegram(LocalSession):
    """Telegram as seen from Russia on a bad day: while `down`, every send times out."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    async def make_request(
        self,
        bot: Any,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        if self.down and isinstance(method, SendMessage):
            self.refused += 1
            raise TelegramNetworkError(method, "Request timeout error")
        return await super().make_request(bot, method, timeout)


class VirtualTime:
    """The worker's monotonic clock and sleep: waiting costs no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@dataclasses.dataclass
class Outage:
    app: App
    chat: LocalChat
    telegram: ThrottledTelegram
    worker: OutboxWorker

    async def last(self, duration: dt.timedelta, clock: FrozenClock) -> None:
        """Telegram down for `duration`; the worker keeps draining every minute meanwhile."""
        self.telegram.down = True
        end = clock.now() + duration
        while clock.now() < end:
            clock.advance(MINUTE)
            await self.worker.drain()
        self.telegram.down = False

    async def recover(self, clock: FrozenClock) -> None:
        """Telegram is back: the worker's next runs (at most ten minutes apart) send it all."""
        for _ in range(12):
            clock.advance(MINUTE)
            await self.worker.drain()


def outage_for(app: App) -> Outage:
    telegram = ThrottledTelegram()
    bot = create_bot(app.settings, session=telegram)
    chat = LocalChat(create_dispatcher(app, rate_limit=None), bot, telegram)
    vtime = VirtualTime()
    worker = create_worker(
        app, bot, per_chat_interval=0, monotonic=vtime.monotonic, sleep=vtime.sleep
    )
    return Outage(app, chat, telegram, worker)


async def statuses(session: AsyncSession) -> dict[str, int]:
    session.expire_all()
    rows = await session.execute(
        select(models.OutboxMessage.status, func.count()).group_by(models.OutboxMessage.status)
    )
    return {str(status): int(count) for status, count in rows}


async def test_a_two_hour_outage_loses_no_notification(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    outage = outage_for(app)
    chat = outage.chat
    olga = await staff(app, chat, 8501, "tam-opora-demo")
    anna = await family_in(chat, 8502, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    number = (await latest_referral(session)).id

    # The organisation takes it from its inbox before the outage starts.
    await olga.send("/inbox")
    await olga.click(f"№{number}")
    await olga.click("✅ Принять")
    assert await statuses(session) == {"pending": 4}

    await outage.last(dt.timedelta(hours=2), clock)
    assert outage.telegram.refused > 10, "the worker kept trying all along"
    assert await statuses(session) == {"pending": 4}, "nothing given up"
    await outage.recover(clock)

    assert await statuses(session) == {"sent": 4}
    assert any(f"Новая заявка №{number}" in m.text for m in olga.messages)
    family_heard = [m.text for m in anna.messages]
    assert any(f"Заявка №{number} принята" in text for text in family_heard)
    assert any("передана организации" in text for text in family_heard)
    assert "взяла в работу" in anna.last_text, "in order, the last news last"


async def test_a_row_given_up_is_counted_everywhere_and_the_admins_are_told(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    app = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"outbox_give_up_hours": 3})
    )
    outage = outage_for(app)
    chat = outage.chat
    admin = chat.user(ADMIN, "Администратор")
    irina = await manager(app, chat, 8601, "RU-TAM")
    await staff(app, chat, 8602, "tam-opora-demo")
    anna = await family_in(chat, 8603, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")

    await outage.last(dt.timedelta(hours=2, minutes=50), clock)
    assert await statuses(session) == {"pending": 3}, "still trying before the limit"
    await outage.last(dt.timedelta(minutes=20), clock)
    # The family's second message waited behind its first: its own three hours start now.
    assert await statuses(session) == {"given_up": 2, "pending": 2}, "and one alert queued"
    await outage.recover(clock)
    assert await statuses(session) == {"given_up": 2, "sent": 2}

    alert = admin.last_text
    assert "Не удалось доставить уведомлений: 2" in alert and "3 ч" in alert
    assert "передана организации" in anna.last_text
    await irina.send("/stats")
    assert "Уведомлений не доставлено за 7 дней (сбой Telegram): 2" in irina.last_text
    digest = await build_digest(
        session,
        region_code="RU-TAM",
        week=None,
        view=app.catalogue.view,
        now=clock.now() + dt.timedelta(days=7),
    )
    assert digest["attention"]["undelivered_notifications"] == 2
    metrics = Metrics()
    await refresh_gauges(app, metrics)
    assert metrics.registry.get_sample_value("navigator_outbox_given_up") == 2


async def test_a_direct_answer_that_meets_a_429_is_retried_and_counted(app: App) -> None:
    local = LocalSession()
    metrics = Metrics()
    chat = LocalChat(
        create_dispatcher(app, rate_limit=None),
        create_bot(app.settings, session=local, metrics=metrics),
        local,
    )
    anna = chat.user(8701)
    await anna.send("/start")
    probe = EditMessageText(text="x")
    local.fail_next("editMessageText", TelegramRetryAfter(probe, "Too Many Requests", 1))
    await anna.click("✅ Согласен(на)")
    assert "В каком регионе" in anna.last_text, "answered after the wait, no apology"

    def calls(method: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "navigator_telegram_requests_total", {"method": method, "outcome": outcome}
        )

    assert calls("editMessageText", "429") == 1
    assert calls("editMessageText", "ok") == 1
    assert calls("sendMessage", "ok")
    latency = metrics.registry.get_sample_value(
        "navigator_telegram_request_duration_seconds_count", {"method": "sendMessage"}
    )
    assert latency and latency >= 1
    assert metrics.registry.get_sample_value("process_resident_memory_bytes")
    assert (
        metrics.registry.get_sample_value("python_gc_collections_total", {"generation": "0"})
        is not None
    )


# -- kill -9 while polling ------------------------------------------------------------------------


class Frozen(BaseMiddleware):
    """The process is about to handle its updates… and never does: it is killed here."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()

    async def __call__(self, handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        self.reached.set()
        await asyncio.Event().wait()


@pytest.fixture
async def fake_telegram(app: App) -> AsyncIterator[tuple[FakeTelegram, App]]:
    async with FakeTelegram() as fake:
        settings = app.settings.model_copy(
            update={"telegram_api_url": fake.base_url, "bot_token": None}
        )
        yield fake, dataclasses.replace(app, settings=settings)


async def test_updates_received_before_a_kill_are_handled_once_after_the_restart(
    fake_telegram: tuple[FakeTelegram, App], session: AsyncSession
) -> None:
    fake, app = fake_telegram
    anna, boris = fake.user(8801), fake.user(8802)
    await anna.send("/start")
    await boris.send("/start")

    # The first process receives both updates, confirms them to Telegram, then dies before
    # any handler has run.
    doomed_dp = create_dispatcher(app, rate_limit=None)
    frozen = Frozen()
    doomed_dp.update.outer_middleware(frozen)
    doomed_bot = create_bot(app.settings)
    doomed = DurablePolling(doomed_dp, doomed_bot, app.session_factory, app.clock, poll_timeout=1)
    stop = asyncio.Event()
    process = asyncio.create_task(doomed.run(stop))
    await asyncio.wait_for(frozen.reached.wait(), 5)
    await fake.wait_until(lambda: len(fake.calls_to("getUpdates")) >= 2, 5)
    assert fake.calls_to("getUpdates")[-1]["offset"], "Telegram was told they arrived"
    process.cancel()  # kill -9: nothing of this process runs any more
    for task in asyncio.all_tasks():
        if task.get_name().startswith("update:"):
            task.cancel()
    await asyncio.gather(process, return_exceptions=True)
    await doomed_bot.session.close()
    assert not anna.messages, "nothing was answered before the kill"

    # The restart finds them stored and handles each once.
    bot = create_bot(app.settings)
    restarted = DurablePolling(
        create_dispatcher(app, rate_limit=None),
        bot,
        app.session_factory,
        app.clock,
        poll_timeout=1,
    )
    stop = asyncio.Event()
    process = asyncio.create_task(restarted.run(stop))
    try:
        await anna.wait_reply(count=2)
        await boris.wait_reply(count=2)
        await restarted.wait_handled()
        await asyncio.sleep(0.3)  # room for a wrong second answer
    finally:
        stop.set()
        await process
        await bot.session.close()
    assert len(anna.messages) == 2 and len(boris.messages) == 2, "answered once each"
    assert "Согласие" in anna.last_text()
    assert await session.scalar(select(func.count()).select_from(models.ReceivedUpdate)) == 0
    assert await session.scalar(select(func.count()).select_from(models.ProcessedUpdate)) == 2


async def test_a_redelivered_update_is_not_handled_twice(
    fake_telegram: tuple[FakeTelegram, App], session: AsyncSession
) -> None:
    """Killed right after storing, before the offset reached Telegram: it comes back twice."""
    fake, app = fake_telegram
    anna = fake.user(8811)
    await anna.send("/start")
    bot = create_bot(app.settings)
    dp = create_dispatcher(app, rate_limit=None)
    first = DurablePolling(dp, bot, app.session_factory, app.clock, poll_timeout=1)
    updates = await bot.get_updates(timeout=1)
    await first.store(updates)  # …and the process died here

    restarted = DurablePolling(dp, bot, app.session_factory, app.clock, poll_timeout=1)
    stop = asyncio.Event()
    process = asyncio.create_task(restarted.run(stop))
    try:
        await anna.wait_reply(count=2)
        await fake.wait_until(lambda: len(fake.calls_to("getUpdates")) >= 3, 5)
        await restarted.wait_handled()
    finally:
        stop.set()
        await process
        await bot.session.close()
    assert len(anna.messages) == 2, "stored copy and redelivery: handled once"


async def test_forget_erases_the_persons_stored_updates_and_stuck_ones_expire(
    fake_telegram: tuple[FakeTelegram, App],
    chat: LocalChat,
    session: AsyncSession,
    clock: FrozenClock,
) -> None:
    """A stored update waiting for a retry holds the person's words: /forget takes it, and an
    update that kept failing for a day is dropped instead of being kept for ever."""
    fake, app = fake_telegram
    anna, boris = fake.user(8821), fake.user(8822)
    await anna.send("Иванова Анна 89161234567")
    await boris.send("/help")
    bot = create_bot(app.settings)
    try:
        polling = DurablePolling(
            create_dispatcher(app, rate_limit=None), bot, app.session_factory, app.clock
        )
        await polling.store(await bot.get_updates(timeout=1))
    finally:
        await bot.session.close()
    assert await session.scalar(select(func.count()).select_from(models.ReceivedUpdate)) == 2

    person = chat.user(8821)
    await person.send("/start")
    await person.click("✅ Согласен(на)")
    await person.send("/forget")
    await person.click("Да, удалить всё")
    stored = list(await session.scalars(select(models.ReceivedUpdate.payload)))
    assert len(stored) == 1 and "89161234567" not in str(stored), "only Boris's update stays"

    clock.advance(dt.timedelta(hours=25))
    assert await polling.resume() == 0
    assert await session.scalar(select(func.count()).select_from(models.ReceivedUpdate)) == 0


# -- one process per SQLite file ------------------------------------------------------------------

HOLDER = """
import sys, time
from bot.instance_lock import single_instance
with single_instance(sys.argv[1]):
    print("running", flush=True)
    time.sleep(60)
"""


async def test_a_second_run_on_the_same_sqlite_file_is_refused(app: App) -> None:
    path = sqlite_path(app.settings.database_url)
    if path is None:
        pytest.skip("PostgreSQL: several replicas are supported (leader election)")
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, app.settings.database_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert first.stdout is not None
        assert (await first.stdout.readline()).decode().strip() == "running"
        with pytest.raises(SystemExit) as refused:
            await run_bot(app, handle_signals=False)
        line = str(refused.value)
        assert line.startswith(f"another `run` (pid {first.pid}) already uses {path}")
        assert "\n" not in line
    finally:
        first.kill()  # kill -9: the kernel releases the lock with the process
        await first.wait()
    with single_instance(app.settings.database_url) as lock:
        assert lock == path.with_name(path.name + ".lock")
