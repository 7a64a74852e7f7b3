"""The MAX side of a running bot: its Bot, and its updates by long polling or by webhook.

`run` builds one when MAX_BOT_TOKEN is set, next to Telegram's (or alone, when only MAX has a
token). The same dispatcher handles both. Polling is bot/polling.py's DurablePolling: MAX's
`GET /updates` marker plays Telegram's offset (MaxSession sends it only once a batch is
stored), so a crash loses no MAX update either. In webhook mode the bot subscribes
`<WEBHOOK_BASE_URL>/max/webhook` with MAX_WEBHOOK_SECRET, and the web app serves that route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError

from bot.app import App
from bot.config import Settings
from bot.max import create_max_bot
from bot.max.ids import MAX_UPDATE_IDS
from bot.max.webhook import MAX_WEBHOOK_PATH
from bot.middlewares.metrics import Metrics
from bot.polling import DurablePolling
from bot.retry import StartupError, retry, telegram_unavailable, telegram_wait

log = logging.getLogger(__name__)

# As for Telegram's secret: at least 16 characters (MAX allows 5-256 of [A-Za-z0-9_-]).
MAX_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,256}")
DRAIN_SECONDS = 30.0


def serves_telegram(settings: Settings) -> bool:
    """Telegram runs unless only MAX has a token (BOT_TOKEN unset, MAX_BOT_TOKEN set)."""
    return settings.bot_token is not None or settings.max_bot_token is None


def max_webhook_secret(settings: Settings) -> str:
    """The secret MAX must send with every update; `run --webhook` with MAX needs it."""
    if not settings.webhook_base_url:
        raise StartupError("Bad setting WEBHOOK_BASE_URL: required for --webhook")
    secret = settings.max_webhook_secret.get_secret_value() if settings.max_webhook_secret else ""
    if not MAX_SECRET_SHAPE.fullmatch(secret):
        raise StartupError(
            "Bad setting MAX_WEBHOOK_SECRET: required for --webhook with MAX_BOT_TOKEN, "
            "16-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    return secret


class MaxChannel:
    def __init__(
        self, app: App, dp: Dispatcher, metrics: Metrics, webhook_secret: str | None
    ) -> None:
        self.app = app
        self.dp = dp
        self.bot: Bot = create_max_bot(
            app.settings, app.session_factory, app.clock, metrics=metrics
        )
        self.webhook_secret = webhook_secret
        self._stop = asyncio.Event()
        self._polling: DurablePolling | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, retries: int) -> None:
        """Ask MAX who we are (retried while MAX is unreachable; a bad token stops the start)."""
        try:
            me = await retry(
                "max",
                self.bot.me,
                retry_if=telegram_unavailable,
                delay_for=telegram_wait,
                retries=retries,
            )
        except TelegramUnauthorizedError:
            raise StartupError(
                "MAX refused MAX_BOT_TOKEN (401): take the token from the MAX partner platform"
            ) from None
        log.info("connected to MAX as @%s", me.username)

    async def start(self, retries: int) -> None:
        """Subscribe the webhook, or drop any subscription and start polling in a task."""
        if self.webhook_secret is not None:
            base = self.app.settings.webhook_base_url
            assert base, "webhook mode checks WEBHOOK_BASE_URL first"
            url = base.rstrip("/") + MAX_WEBHOOK_PATH
            secret = self.webhook_secret

            async def subscribe() -> None:
                await self.bot.set_webhook(url, secret_token=secret)

            await retry(
                "max (subscriptions)",
                subscribe,
                retry_if=telegram_unavailable,
                delay_for=telegram_wait,
                retries=retries,
            )
            log.info("max: webhook subscribed")
            return

        async def unsubscribe() -> None:
            await self.bot.delete_webhook()

        await retry(
            "max (subscriptions)",
            unsubscribe,
            retry_if=telegram_unavailable,
            delay_for=telegram_wait,
            retries=retries,
        )
        self._polling = DurablePolling(
            self.dp,
            self.bot,
            self.app.session_factory,
            self.app.clock,
            update_ids=MAX_UPDATE_IDS,
        )
        self._task = asyncio.create_task(self._polling.run(self._stop), name="max-polling")
        log.info("max: long polling")

    async def stop(self) -> None:
        """Stop polling; the handlers in flight may finish (what is cut short stays stored)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        if self._polling is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._polling.wait_handled(), DRAIN_SECONDS)

    async def close(self) -> None:
        await self.bot.session.close()
