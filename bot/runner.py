"""Running against Telegram: long polling (default) or a webhook served by aiohttp.

Besides the dispatcher, a running bot has the outbox worker (every replica), the HTTP server
(health, readiness, metrics; the webhook too in webhook mode) and the scheduled jobs (SLA timers
and every job registered in bot/jobs.py), which run on the elected leader only.

Start-up waits for the database, Redis and Telegram with retries. SIGTERM or SIGINT stops it
gracefully: no new updates, the ones in flight finish, the outbox worker finishes the message it
is sending, the scheduler stops and hands leadership over, then connections close.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommand, BotCommandScopeDefault
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.bootstrap import prepare
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher, create_renderer, create_storage
from bot.instance_lock import single_instance
from bot.jobs import start_jobs, stop_jobs
from bot.leader import Leader, migration_lock
from bot.max.channel import MaxChannel, max_webhook_secret, serves_telegram
from bot.menus import FAMILY_COMMANDS, set_about, set_staff_menus
from bot.middlewares.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.polling import DurablePolling
from bot.retry import (
    DEFAULT_RETRIES,
    StartupError,
    database_unavailable,
    redis_unavailable,
    retry,
    telegram_unavailable,
    telegram_wait,
)
from bot.web import WEBHOOK_PATH, WebServer, create_web_app
from core import referrals
from core.texts import Texts
from db import models

log = logging.getLogger(__name__)

# Telegram's rule for setWebhook's secret_token, and at least 16 characters: the secret is all
# that keeps forged updates out, and a short one can be guessed.
WEBHOOK_SECRET_MIN = 16
WEBHOOK_SECRET_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{WEBHOOK_SECRET_MIN},256}}")
DRAIN_SECONDS = 30.0
WORKER_STOP_SECONDS = 10.0


async def set_commands(bot: Bot, texts: Texts) -> None:
    """The command menu in Russian by default and in English for English clients."""
    for lang in ("ru", "en"):
        t = texts.get(lang)
        commands = [BotCommand(command=c, description=t(f"commands.{c}")) for c in FAMILY_COMMANDS]
        await bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=None if lang == "ru" else lang
        )


async def _set_staff_menus(app: App, bot: Bot) -> None:
    async with app.session_factory() as session:
        await set_staff_menus(bot, app.texts, session, app.settings.admin_ids)


def create_worker(
    app: App, bot: Bot | Sequence[Bot], *, per_chat_interval: float = 1.0, **options: Any
) -> OutboxWorker:
    """The worker as `run` configures it; `options` (a test's clock and sleep) pass through.

    Given every running messenger's bot, it sends each row through the bot of its channel.
    """

    async def on_unreachable(session: AsyncSession, row: models.OutboxMessage) -> None:
        await referrals.on_unreachable(session, app.referral_context(), row.chat_id, row.channel)

    worker = OutboxWorker(
        app.session_factory,
        bot,
        app.clock,
        create_renderer(app),
        on_unreachable=on_unreachable,
        per_chat_interval=per_chat_interval,
        # Backoff 2 s … 10 min, for OUTBOX_GIVE_UP_HOURS; then given up and the admins told.
        give_up_after=dt.timedelta(hours=app.settings.outbox_give_up_hours),
        alert_chat_ids=app.settings.admin_ids,
        wake=app.outbox_wake,
        **options,
    )
    return worker


async def wait_for_dependencies(
    app: App,
    bot: Bot | None,
    storage: BaseStorage,
    *,
    retries: int = DEFAULT_RETRIES,
    first_delay: float = 1.0,
) -> None:
    """Migrate and load the catalogue, ping Redis, ask Telegram who we are: each with retries.

    Raises StartupError (one clear line) when something never comes up.
    """

    async def prepare_database() -> None:
        async with migration_lock(app.engine):
            await prepare(app)

    await retry(
        "database",
        prepare_database,
        retry_if=database_unavailable,
        retries=retries,
        first_delay=first_delay,
    )
    redis = getattr(storage, "redis", None)
    if app.settings.redis_url and redis is not None:
        await retry(
            "redis",
            redis.ping,
            retry_if=redis_unavailable,
            retries=retries,
            first_delay=first_delay,
        )
    if bot is None:  # MAX only: its channel connects on its own
        return
    try:
        me = await retry(
            "telegram",
            bot.me,
            retry_if=telegram_unavailable,
            delay_for=telegram_wait,
            retries=retries,
            first_delay=first_delay,
        )
    except TelegramUnauthorizedError:
        raise StartupError(
            "Telegram refused BOT_TOKEN (Unauthorized): take the token from @BotFather again"
        ) from None
    log.info("connected to Telegram as @%s", me.username)


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram must send with every update; webhook mode does not start without."""
    if not settings.webhook_base_url:
        raise StartupError("Bad setting WEBHOOK_BASE_URL: required for --webhook")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not WEBHOOK_SECRET_SHAPE.fullmatch(secret):
        raise StartupError(
            f"Bad setting WEBHOOK_SECRET: required for --webhook, {WEBHOOK_SECRET_MIN}-256 "
            "characters of A-Z, a-z, 0-9, _ and -"
        )
    return secret


def install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop`; returns the function that removes the handlers."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        log.warning("received %s, shutting down gracefully", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def run_bot(
    app: App,
    *,
    webhook: bool = False,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    startup_retries: int = DEFAULT_RETRIES,
    drain_seconds: float = DRAIN_SECONDS,
) -> None:
    """Run until `stop` is set (by SIGTERM/SIGINT unless `handle_signals` is False).

    Raises SystemExit with one line for the operator when start-up cannot complete.
    """
    settings = app.settings
    try:
        secret = webhook_secret(settings) if webhook and serves_telegram(settings) else None
        max_secret = max_webhook_secret(settings) if webhook and settings.max_bot_token else None
    except StartupError as error:
        raise SystemExit(str(error)) from None
    try:
        with single_instance(settings.database_url):
            await _run_bot(
                app,
                secret=secret,
                max_secret=max_secret,
                stop=stop or asyncio.Event(),
                handle_signals=handle_signals,
                startup_retries=startup_retries,
                drain_seconds=drain_seconds,
            )
    except StartupError as error:
        log.error("%s", error)
        raise SystemExit(str(error)) from None


async def _run_bot(
    app: App,
    *,
    secret: str | None,
    max_secret: str | None = None,
    stop: asyncio.Event,
    handle_signals: bool,
    startup_retries: int,
    drain_seconds: float,
) -> None:
    settings = app.settings
    webhook = secret is not None or max_secret is not None
    remove_signal_handlers = install_signal_handlers(stop) if handle_signals else (lambda: None)
    storage = create_storage(settings)
    metrics = Metrics()
    bot = create_bot(settings, metrics=metrics)
    dp = create_dispatcher(app, storage, metrics=metrics)
    # Every messenger with a token is served by the one dispatcher (MAX: bot/max/channel.py).
    max_channel = MaxChannel(app, dp, metrics, max_secret) if settings.max_bot_token else None
    telegram = max_channel is None or serves_telegram(settings)
    main_bot = bot if telegram or max_channel is None else max_channel.bot
    server = WebServer(
        create_web_app(
            app,
            dp,
            bot,
            webhook_secret=secret,
            webhook=secret is not None,
            max_bot=max_channel.bot if max_channel else None,
            max_webhook_secret=max_secret,
        )
    )
    server.probes.channels.update(
        {
            "telegram": "starting" if telegram else "off",
            "max": "starting" if max_channel else "off",
        }
    )
    worker_stop, leader_stop = asyncio.Event(), asyncio.Event()
    worker_task: asyncio.Task[None] | None = None
    leader_task: asyncio.Task[None] | None = None
    server_running = False
    try:
        # Probes answer from the start: alive at once, ready once the dependencies are.
        try:
            await server.start(settings.webhook_host, settings.webhook_port)
        except OSError as error:
            raise StartupError(
                f"cannot listen on {settings.webhook_host}:{settings.webhook_port} "
                f"(WEBHOOK_HOST/WEBHOOK_PORT): {error.strerror or type(error).__name__}"
            ) from None
        server_running = True
        await _until_stopped(
            wait_for_dependencies(
                app, bot if telegram else None, storage, retries=startup_retries
            ),
            stop,
        )
        if max_channel is not None and not stop.is_set():
            await _until_stopped(max_channel.connect(startup_retries), stop)
        if stop.is_set():
            return
        server.probes.channels.update({"telegram": "ok"} if telegram else {})
        # One worker, every running messenger's bot: each row goes out through its channel's.
        running = ([bot] if telegram else []) + ([max_channel.bot] if max_channel else [])
        worker = create_worker(app, running)
        worker_task = asyncio.create_task(worker.run(worker_stop), name="outbox")
        leader_task = asyncio.create_task(
            _lead(app, main_bot, metrics, leader_stop, [b for b in running if b is not main_bot]),
            name="scheduler-leader",
        )
        if telegram:
            await _try("set the command menu", set_commands(bot, app.texts))
            await _try("set the bot's description", set_about(bot, app.texts))
            await _try("set the staff menus", _set_staff_menus(app, bot))
        if max_channel is not None:
            # MAX has one menu and no description API (set on the partner platform).
            await _try("set the MAX command menu", set_commands(max_channel.bot, app.texts))
            await max_channel.start(startup_retries)
            server.probes.channels["max"] = "ok"
        if not telegram:
            await stop.wait()
        elif secret is not None:
            await _set_webhook(bot, dp, settings, secret, startup_retries)
            log.info("webhook mode: receiving updates on %s", settings.webhook_base_url)
            await stop.wait()
        else:
            await _poll(app, dp, bot, stop, startup_retries)
    except StartupError as error:
        log.error("%s", error)
        raise SystemExit(str(error)) from None
    finally:
        server.probes.draining = True
        if webhook and server_running:
            # Stop listening; requests in flight (updates being handled) finish first.
            await server.stop()
            server_running = False
        if max_channel is not None:
            await max_channel.stop()
        await _drain(metrics, drain_seconds)
        worker_stop.set()
        if worker_task is not None:
            await _finish(worker_task, WORKER_STOP_SECONDS, "outbox worker")
        leader_stop.set()
        if leader_task is not None:
            await _finish(leader_task, WORKER_STOP_SECONDS, "scheduler")
        if server_running:
            await server.stop()
        await storage.close()
        await bot.session.close()
        if max_channel is not None:
            await max_channel.close()
        await app.engine.dispose()
        remove_signal_handlers()
        log.info("stopped")


async def _drain(metrics: Metrics, seconds: float) -> None:
    """Wait for the updates in flight, and for any that was queued behind one (same person)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0 or not await metrics.wait_idle(left):
            log.warning("%d update(s) still running, stopping anyway", metrics.running)
            return
        # An update waiting for the per-person lock starts right after the one before it ends.
        await asyncio.sleep(0.1)
        if metrics.running == 0:
            return


async def _lead(
    app: App, bot: Bot, metrics: Metrics, stop: asyncio.Event, others: Sequence[Bot] = ()
) -> None:
    async def elected() -> None:
        await start_jobs(app, bot, others)
        metrics.scheduler_leader.set(1)

    async def deposed() -> None:
        metrics.scheduler_leader.set(0)
        await stop_jobs(app)

    await Leader(app.engine).run(elected, deposed, stop)


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run `work` unless `stop` comes first (a SIGTERM during start-up retries)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(stopper, return_exceptions=True)
    if not task.cancelled():
        task.result()
    else:
        with suppress(asyncio.CancelledError):
            await task


async def _poll(app: App, dp: Dispatcher, bot: Bot, stop: asyncio.Event, retries: int) -> None:
    async def delete_webhook() -> None:
        await bot.delete_webhook(drop_pending_updates=False)

    await retry(
        "telegram (deleteWebhook)",
        delete_webhook,
        retry_if=telegram_unavailable,
        delay_for=telegram_wait,
        retries=retries,
    )
    polling = DurablePolling(
        dp, bot, app.session_factory, app.clock, allowed_updates=dp.resolve_used_update_types()
    )
    await polling.run(stop)
    # The handlers still running may finish; what is cut short (or killed) stays stored and
    # is handled at the next start.
    with suppress(TimeoutError):
        await asyncio.wait_for(polling.wait_handled(), DRAIN_SECONDS)


async def _set_webhook(
    bot: Bot, dp: Dispatcher, settings: Settings, secret: str, retries: int
) -> None:
    assert settings.webhook_base_url
    url = settings.webhook_base_url.rstrip("/") + WEBHOOK_PATH

    async def set_webhook() -> None:
        await bot.set_webhook(
            url, secret_token=secret, allowed_updates=dp.resolve_used_update_types()
        )

    await retry(
        "telegram (setWebhook)",
        set_webhook,
        retry_if=telegram_unavailable,
        delay_for=telegram_wait,
        retries=retries,
    )


async def _try(what: str, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as error:
        log.warning("could not %s: %s", what, type(error).__name__)


async def _finish(task: asyncio.Task[None], timeout: float, what: str) -> None:  # noqa: ASYNC109
    try:
        await asyncio.wait_for(task, timeout)
    except TimeoutError:
        log.warning("%s did not stop within %s s, cancelled", what, timeout)
    except Exception as error:
        log.error("%s failed: %s", what, type(error).__name__)
