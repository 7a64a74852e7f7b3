"""Per-user rate limit: a token bucket in memory, checked before any database work.

A person may send a burst of `burst` updates, refilled evenly over `per_seconds`. The first
message over the limit gets one friendly line per window, the rest are dropped silently; a
button pressed over the limit gets an alert (every callback query must be answered).
The buckets live in this process: with several replicas each one limits what it receives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from bot.channels import channel_of
from bot.middlewares.metrics import Metrics, update_type
from core.texts import Texts, pick_language

log = logging.getLogger(__name__)

# How often (in checks) idle buckets are forgotten, so memory follows active users only.
PRUNE_EVERY = 1000


@dataclass(frozen=True)
class RateLimit:
    burst: int = 20
    per_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs a positive burst and window")


DEFAULT_RATE_LIMIT = RateLimit()


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned_at: float | None = None


class ThrottleMiddleware(BaseMiddleware):
    def __init__(
        self,
        texts: Texts,
        limit: RateLimit = DEFAULT_RATE_LIMIT,
        *,
        metrics: Metrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._texts = texts
        self._limit = limit
        self._refill_per_second = limit.burst / limit.per_seconds
        self._metrics = metrics
        self._monotonic = monotonic
        # By (channel, user id): the same number on two messengers is two people.
        self._buckets: dict[Hashable, _Bucket] = {}
        self._checks = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or not isinstance(event, Update):
            return await handler(event, data)
        now = self._monotonic()
        bucket = self._take((str(channel_of(data["bot"])), user.id), now)
        if bucket is None:
            return await handler(event, data)
        if self._metrics is not None:
            self._metrics.throttled.labels(update_type(event)).inc()
        await self._tell(event, user, bucket, now)
        return None

    def _take(self, user_id: Hashable, now: float) -> _Bucket | None:
        """Spend a token; the bucket when there was none left, None when the update may pass."""
        self._checks += 1
        if self._checks % PRUNE_EVERY == 0:
            self._prune(now)
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self._limit.burst), now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(
                float(self._limit.burst), bucket.tokens + elapsed * self._refill_per_second
            )
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return bucket

    def _prune(self, now: float) -> None:
        # A bucket untouched for a whole window is full again: forgetting it changes nothing.
        stale = [
            uid for uid, b in self._buckets.items() if now - b.updated >= self._limit.per_seconds
        ]
        for user_id in stale:
            del self._buckets[user_id]

    def _may_warn(self, bucket: _Bucket, now: float) -> bool:
        """Once per window: one friendly line, then silence."""
        return bucket.warned_at is None or now - bucket.warned_at >= self._limit.per_seconds

    async def _tell(self, update: Update, user: User, bucket: _Bucket, now: float) -> None:
        t = self._texts.get(pick_language(user.language_code))
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(t("safety.throttled_alert"), show_alert=True)
            elif update.message is not None and self._may_warn(bucket, now):
                bucket.warned_at = now
                await update.message.answer(t("safety.throttled"))
        except Exception as error:  # the notice is a courtesy; Telegram may be refusing too
            log.warning("could not tell a throttled user: %s", type(error).__name__)
