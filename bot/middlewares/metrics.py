"""Prometheus metrics of one running bot, and the middlewares that feed them.

Each dispatcher gets its own `CollectorRegistry` (never the global one), so the tests can build
several apps in one process. Labels are update types and exception class names only: nothing
a person typed or who they are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import ErrorEvent, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from bot.channels import channel_of

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters, the latency histogram, gauges refreshed on scrape, and updates in flight."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "navigator_updates",
            "Telegram updates by type and outcome (handled, unhandled, error)",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "navigator_update_duration_seconds",
            "Time spent handling one update, by type",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "navigator_errors",
            "Updates that raised, by update type and exception class",
            ["type", "error"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "navigator_throttled_updates",
            "Updates dropped by the per-user rate limit, by type",
            ["type"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "navigator_updates_in_flight",
            "Updates being handled right now",
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "navigator_outbox_pending",
            "Notifications waiting in the outbox (refreshed on scrape)",
            registry=self.registry,
        )
        self.outbox_given_up = Gauge(
            "navigator_outbox_given_up",
            "Notifications given up after OUTBOX_GIVE_UP_HOURS of failures, still on record "
            "(refreshed on scrape)",
            registry=self.registry,
        )
        self.referrals = Gauge(
            "navigator_referrals",
            "Referrals by status (refreshed on scrape)",
            ["status"],
            registry=self.registry,
        )
        self.scheduler_leader = Gauge(
            "navigator_scheduler_leader",
            "1 on the replica that runs the scheduled jobs, 0 on a standby",
            registry=self.registry,
        )
        self.api_calls = Counter(
            "navigator_telegram_requests",
            "Bot API calls by method and outcome (ok, 429, 403, 400, 5xx, network, other)",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "navigator_telegram_request_duration_seconds",
            "Time of one Bot API call, by method (getUpdates includes its long poll)",
            ["method"],
            buckets=(*LATENCY_BUCKETS, 60.0),
            registry=self.registry,
        )
        # The standard process_* (memory, CPU, open files), python_gc_* and python_info.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.scrape_errors = Counter(
            "navigator_metrics_refresh_errors",
            "Scrapes whose database gauges could not be refreshed",
            registry=self.registry,
        )
        # Issue 16: the same, by messenger (telegram, max).
        self.channel_updates = Counter(
            "navigator_channel_updates",
            "Updates by messenger and outcome (handled, unhandled, error)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.families = Gauge(
            "navigator_families",
            "Families who consented, by messenger (refreshed on scrape)",
            ["channel"],
            registry=self.registry,
        )
        self.open_requests = Gauge(
            "navigator_open_requests",
            "Open requests by the family's messenger (refreshed on scrape)",
            ["channel"],
            registry=self.registry,
        )
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def handling(self) -> Iterator[None]:
        self._running += 1
        self._idle.clear()
        self.in_flight.inc()
        try:
            yield
        finally:
            self._running -= 1
            self.in_flight.dec()
            if self._running == 0:
                self._idle.set()

    @property
    def running(self) -> int:
        return self._running

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109 (a plain deadline)
        """Wait until no update is being handled; False when `timeout` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def update_type(event: TelegramObject) -> str:
    if not isinstance(event, Update):
        return type(event).__name__
    try:
        return event.event_type
    except UpdateTypeLookupError:
        return "unknown"


class MetricsMiddleware(BaseMiddleware):
    """Outer update middleware: counts updates by type and outcome and times them."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = update_type(event)
        outcome = "error"
        started = time.perf_counter()
        with self._metrics.handling():
            try:
                result = await handler(event, data)
                outcome = "unhandled" if result is UNHANDLED else "handled"
                return result
            finally:
                self._metrics.latency.labels(kind).observe(time.perf_counter() - started)
                self._metrics.updates.labels(kind, outcome).inc()
                channel = str(channel_of(data["bot"])) if "bot" in data else "unknown"
                self._metrics.channel_updates.labels(channel, outcome).inc()


class ErrorMetricsMiddleware(BaseMiddleware):
    """On the errors observer, so failures outside our middlewares (FSM storage) count too."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, ErrorEvent):
            error = type(event.exception).__name__
            self._metrics.errors.labels(update_type(event.update), error).inc()
        return await handler(event, data)
