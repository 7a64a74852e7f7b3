"""Running against Telegram: long polling (default) or a webhook served by aiohttp.

Besides the dispatcher, a running bot has the outbox worker (every replica) and the
scheduled jobs: SLA timers, their sweep and the digests.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeDefault
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, create_bot, create_dispatcher
from bot.outbox_worker import OutboxWorker
from bot.scheduler import SchedulerJobs
from bot.services import referrals
from bot.sla import SlaTimers
from bot.texts import Texts
from db import models
from handlers.notifications import NotificationRenderer

log = logging.getLogger(__name__)

FAMILY_COMMANDS = (
    "start",
    "find",
    "search",
    "request",
    "consult",
    "my",
    "profile",
    "privacy",
    "help",
    "cancel",
)


async def set_commands(bot: Bot, texts: Texts) -> None:
    """The command menu in Russian by default and in English for English clients."""
    for lang in ("ru", "en"):
        t = texts.get(lang)
        commands = [BotCommand(command=c, description=t(f"commands.{c}")) for c in FAMILY_COMMANDS]
        await bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=None if lang == "ru" else lang
        )


def create_worker(app: App, bot: Bot, *, per_chat_interval: float = 1.0) -> OutboxWorker:
    async def on_unreachable(session: AsyncSession, row: models.OutboxMessage) -> None:
        await referrals.on_unreachable(session, app.referral_context(), row.chat_id)

    worker = OutboxWorker(
        app.session_factory,
        bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        on_unreachable=on_unreachable,
        per_chat_interval=per_chat_interval,
        # About half an hour of retries (backoff 2 s … 10 min) before a message is given up.
        max_attempts=12,
    )
    app.outbox_wake = worker.wake
    return worker


async def start_jobs(app: App, bot: Bot) -> None:
    """Rebuild SLA timers from the DB, start the sweep and the digest delivery."""
    from bot.services.digest_delivery import schedule_digests

    timers = app.timers
    assert isinstance(timers, SlaTimers), "build_app gives every App its SLA timers"
    rebuilt = await timers.rebuild()
    timers.start()
    schedule_digests(app, bot)
    if isinstance(app.jobs, SchedulerJobs):
        app.jobs.start()
    log.info("scheduler started, %s SLA timers rebuilt", rebuilt)


async def run_bot(app: App, *, webhook: bool = False) -> None:
    bot = create_bot(app.settings)
    dp = create_dispatcher(app)
    worker = create_worker(app, bot)
    stop = asyncio.Event()
    worker_task = asyncio.create_task(worker.run(stop), name="outbox")
    try:
        await set_commands(bot, app.texts)
        await start_jobs(app, bot)
        if webhook:
            await _run_webhook(app, bot, dp)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())
    finally:
        # Graceful stop: no new updates by now; let the worker finish what is in flight.
        stop.set()
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(worker_task, timeout=10)
        if isinstance(app.jobs, SchedulerJobs):
            app.jobs.shutdown()
        await bot.session.close()


async def _run_webhook(app: App, bot: Bot, dp: Dispatcher) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    settings = app.settings
    if not settings.webhook_base_url or settings.webhook_secret is None:
        raise SystemExit(
            "Bad setting WEBHOOK_BASE_URL / WEBHOOK_SECRET: both are needed for --webhook"
        )
    secret = settings.webhook_secret.get_secret_value()
    path = "/telegram/webhook"
    web_app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(web_app, path=path)
    setup_application(web_app, dp, bot=bot)
    await bot.set_webhook(
        settings.webhook_base_url.rstrip("/") + path,
        secret_token=secret,
        allowed_updates=dp.resolve_used_update_types(),
    )
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
