"""Running against Telegram: long polling (default) or a webhook served by aiohttp."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeDefault

from bot.app import App, create_bot, create_dispatcher
from bot.texts import Texts

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


async def run_bot(app: App, *, webhook: bool = False) -> None:
    bot = create_bot(app.settings)
    dp = create_dispatcher(app)
    try:
        await set_commands(bot, app.texts)
        if webhook:
            await _run_webhook(app, bot, dp)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())
    finally:
        await bot.session.close()


async def _run_webhook(app: App, bot: Bot, dp: Dispatcher) -> None:
    import asyncio

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
