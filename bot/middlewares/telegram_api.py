"""Every Bot API call the bot makes: counted and timed, and a direct answer retried on 429.

A handler's answer (sendMessage, editMessageText, answerCallbackQuery…) that meets Telegram's
flood control used to be lost, and the apology after it too. This session middleware waits
`retry_after` and tries again, at most RETRIES times and only when the wait is short enough for
a person looking at the chat. The outbox worker has its own flood control (it pauses every
chat and keeps the row), so its calls run inside `no_retry()` and are not retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.middlewares.metrics import Metrics

log = logging.getLogger(__name__)

RETRIES = 2
# A person waits for the answer: longer flood waits are not sat out in a handler.
MAX_RETRY_AFTER = 10.0

_RETRY = contextvars.ContextVar("telegram_api_retry", default=True)


@contextlib.contextmanager
def no_retry() -> Iterator[None]:
    """Calls made inside are not retried on 429 (the caller has its own policy)."""
    token = _RETRY.set(False)
    try:
        yield
    finally:
        _RETRY.reset(token)


def outcome_of(error: BaseException | None) -> str:
    """A small fixed set of labels: ok, 429, 403, 400, 5xx, network, other."""
    if error is None:
        return "ok"
    if isinstance(error, TelegramRetryAfter):
        return "429"
    if isinstance(error, TelegramForbiddenError):
        return "403"
    if isinstance(error, TelegramBadRequest):
        return "400"
    if isinstance(error, TelegramServerError):
        return "5xx"
    if isinstance(error, TelegramNetworkError | TimeoutError | OSError):
        return "network"
    return "other"


class TelegramApiMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        retries: int = RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._metrics = metrics
        self._retries = retries
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    async def __call__(
        self,
        make_request: Callable[[Bot, TelegramMethod[TelegramType]], Awaitable[Response[Any]]],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await self._timed(make_request, bot, method)
            except TelegramRetryAfter as error:
                attempt += 1
                if (
                    not _RETRY.get()
                    or attempt > self._retries
                    or error.retry_after > self._max_retry_after
                ):
                    raise
                log.warning(
                    "%s: flood control, retrying in %s s", method.__api_method__, error.retry_after
                )
                await self._sleep(error.retry_after)

    async def _timed(
        self,
        make_request: Callable[[Bot, TelegramMethod[TelegramType]], Awaitable[Response[Any]]],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await make_request(bot, method)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if self._metrics is not None and not isinstance(error, asyncio.CancelledError):
                name = method.__api_method__
                self._metrics.api_calls.labels(name, outcome_of(error)).inc()
                self._metrics.api_latency.labels(name).observe(time.perf_counter() - started)
