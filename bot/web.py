"""The bot's HTTP side: Telegram's webhook, health and readiness probes, Prometheus metrics.

One aiohttp application serves all of it. In webhook mode it also receives updates; in polling
mode it still runs (on WEBHOOK_HOST:WEBHOOK_PORT) so an orchestrator can probe the process.

- `POST /telegram/webhook`: only with the secret token Telegram was given (401 otherwise,
  nothing is read or written); the update is handled before the answer, so a crash or a 5xx
  makes Telegram deliver it again (the update_id dedup keeps that to once).
- `GET /healthz`: the process is alive.
- `GET /readyz`: the database answers, the catalogue is loaded, Redis answers when configured,
  and the process is not shutting down; 503 otherwise.
- `GET /metrics`: Prometheus text; the outbox backlog and referrals by status are counted
  (one query each) at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from bot.app import App
from bot.middlewares.metrics import Metrics
from core import channel_stats
from db import models
from db.enums import OutboxStatus, ReferralStatus

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PROBE_TIMEOUT_SECONDS = 3.0


class Probes:
    """What /readyz checks; `draining` is set by the runner when shutdown begins."""

    def __init__(
        self, app: App, storage: BaseStorage, *, timeout: float = PROBE_TIMEOUT_SECONDS
    ) -> None:
        self.app = app
        self.storage = storage
        self.timeout = timeout
        self.draining = False
        # Each messenger's state, set by the runner: "starting", "ok" or "off".
        self.channels: dict[str, str] = {}

    async def readiness(self) -> dict[str, str]:
        """Each check's result: "ok", "skipped", or why it failed (an exception class name)."""
        checks: dict[str, str] = {}
        if self.draining:
            checks["shutdown"] = "in progress"
        checks["database"] = await self._check(self._database)
        checks["catalogue"] = self._catalogue()
        if self.app.settings.redis_url:
            checks["redis"] = await self._check(self._redis)
        else:
            checks["redis"] = "skipped"
        for channel, state in self.channels.items():
            checks[channel] = "skipped" if state == "off" else state
        return checks

    async def _check(self, probe: Any) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                await probe()
        except TimeoutError:
            return "timeout"
        except Exception as error:
            return type(error).__name__
        return "ok"

    async def _database(self) -> None:
        async with self.app.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _redis(self) -> None:
        redis = getattr(self.storage, "redis", None)
        if redis is None:
            raise RuntimeError("REDIS_URL is set but the FSM storage is not Redis")
        await redis.ping()

    def _catalogue(self) -> str:
        try:
            view = self.app.catalogue.view
        except RuntimeError:
            return "not loaded"
        return "ok" if view.measures else "empty"


async def refresh_gauges(app: App, metrics: Metrics) -> None:
    """The database-backed gauges: one COUNT for the outbox, one GROUP BY for referrals."""
    async with app.session_factory() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(models.OutboxMessage)
            .where(models.OutboxMessage.status == OutboxStatus.PENDING)
        )
        given_up = await session.scalar(
            select(func.count())
            .select_from(models.OutboxMessage)
            .where(models.OutboxMessage.status == OutboxStatus.GIVEN_UP)
        )
        by_status = await session.execute(
            select(models.Referral.status, func.count()).group_by(models.Referral.status)
        )
        counts = {str(status): int(count) for status, count in by_status}
        by_channel = await channel_stats.totals_by_channel(session)
    metrics.outbox_pending.set(pending or 0)
    metrics.outbox_given_up.set(given_up or 0)
    for status in ReferralStatus:
        metrics.referrals.labels(status.value).set(counts.pop(status.value, 0))
    for other, count in counts.items():  # a status this build does not know yet
        metrics.referrals.labels(other).set(count)
    for channel, numbers in by_channel.items():
        metrics.families.labels(channel).set(numbers["families"])
        metrics.open_requests.labels(channel).set(numbers["open_requests"])


PROBES = web.AppKey("probes", Probes)


def create_web_app(
    app: App,
    dp: Dispatcher,
    bot: Bot,
    *,
    webhook_secret: str | None = None,
    probes: Probes | None = None,
    webhook: bool = False,
    max_bot: Bot | None = None,
    max_webhook_secret: str | None = None,
) -> web.Application:
    """Probes and metrics always; the webhook route when `webhook` (then a secret is required)."""
    metrics: Metrics = dp["metrics"]
    probes = probes or Probes(app, dp.storage)
    web_app = web.Application()
    web_app[PROBES] = probes

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        checks = await probes.readiness()
        ready = all(value in ("ok", "skipped") for value in checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics_view(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(probes.timeout):
                await refresh_gauges(app, metrics)
        except Exception as error:  # counters still matter when the database does not answer
            metrics.scrape_errors.inc()
            log.warning("metrics: database gauges not refreshed (%s)", type(error).__name__)
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics_view)
    if webhook:
        if not webhook_secret:
            raise ValueError("the webhook needs a secret token")
        web_app.router.add_post(WEBHOOK_PATH, webhook_handler(dp, bot, webhook_secret))
    if max_bot is not None and max_webhook_secret:  # MAX's webhook (bot/max/webhook.py)
        from bot.max.webhook import MAX_WEBHOOK_PATH, max_webhook_handler

        web_app.router.add_post(
            MAX_WEBHOOK_PATH, max_webhook_handler(dp, max_bot, max_webhook_secret)
        )
    return web_app


def webhook_handler(
    dp: Dispatcher, bot: Bot, secret: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Like aiogram's SimpleRequestHandler (handle_in_background=False), but stricter.

    The secret is mandatory, a malformed body is a 400 whose content is never logged, and the
    bot session is left open on shutdown (the outbox worker still needs it).
    """
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not secrets.compare_digest(given, expected):
            log.info("webhook: request without the right secret token refused")
            return web.Response(status=401, text="Unauthorized")
        try:
            update = Update.model_validate(
                await request.json(loads=bot.session.json_loads), context={"bot": bot}
            )
        except ValueError as error:  # JSON or validation: the body itself stays out of logs
            log.warning("webhook: malformed update refused (%s)", type(error).__name__)
            return web.Response(status=400, text="Bad Request")
        try:
            result: Any = await dp.feed_webhook_update(bot, update)
        except Exception as error:
            # Not 200: Telegram delivers the update again, and dedup makes it count once.
            log.error("webhook: update %s failed: %s", update.update_id, type(error).__name__)
            return web.Response(status=500, text="Internal Server Error")
        if isinstance(result, TelegramMethod):
            await dp.silent_call_request(bot, result)
        return web.json_response({})

    return receive


class WebServer:
    """Runs `create_web_app` on host:port; `stop()` stops listening and finishes requests."""

    def __init__(self, web_app: web.Application, *, shutdown_timeout: float = 30.0) -> None:
        self.web_app = web_app
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=shutdown_timeout)
        self._site: web.TCPSite | None = None

    @property
    def probes(self) -> Probes:
        return self.web_app[PROBES]

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        log.info("http: health, readiness and metrics on %s:%s", host, self.port or port)

    @property
    def port(self) -> int | None:
        """The bound port (useful with port 0)."""
        addresses = self._runner.addresses
        return int(addresses[0][1]) if addresses else None

    async def stop(self) -> None:
        """Close the socket, let requests in flight finish (up to shutdown_timeout)."""
        await self._runner.cleanup()
