"""Start-up retries: wait for the database, Redis and Telegram rather than crash at first try.

Containers start in any order, so a dependency that is not up yet is normal for a few seconds.
Each failed attempt is one log line an operator can read ("database not reachable
(OperationalError), retry 3/10 in 4 s"); the last one becomes a `StartupError` that says what
never came up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRIES = 10
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0


class StartupError(Exception):
    """A dependency did not come up; the message is the one line to show the operator."""


async def retry(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_if: Callable[[Exception], bool] = lambda error: True,
    retries: int = DEFAULT_RETRIES,
    first_delay: float = FIRST_DELAY_SECONDS,
    max_delay: float = MAX_DELAY_SECONDS,
    delay_for: Callable[[BaseException], float | None] = lambda error: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call `attempt` until it succeeds; back off 1, 2, 4… s (capped) between failures.

    Only exceptions `retry_if` accepts are retried: anything else (a bad token, an invalid
    catalogue) is a configuration problem that waiting cannot fix, so it propagates at once.
    `delay_for` may impose a wait of its own (Telegram's retry_after).
    """
    if retries < 0:
        raise ValueError("retries must not be negative")
    delay = first_delay
    for number in range(1, retries + 2):
        try:
            return await attempt()
        except Exception as error:
            if not retry_if(error):
                raise
            reason = type(error).__name__
            if number > retries:
                raise StartupError(
                    f"{what} not reachable ({reason}) after {number} attempts, giving up"
                ) from error
            wait = delay_for(error)
            wait = min(delay, max_delay) if wait is None else wait
            log.warning(
                "%s not reachable (%s), retry %d/%d in %s s",
                what,
                reason,
                number,
                retries,
                _seconds(wait),
            )
            await sleep(wait)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


# SQLSTATEs of a server that is there but not ready: starting up, shutting down, full.
_TRANSIENT_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def database_unavailable(error: Exception) -> bool:
    """A database that is down or starting, not a wrong password or a broken migration."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        sqlstate = str(getattr(error.orig, "sqlstate", "") or "")
        return (
            error.connection_invalidated
            or sqlstate.startswith("08")
            or sqlstate in _TRANSIENT_SQLSTATES
        )
    return False


def redis_unavailable(error: Exception) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(error, OSError | TimeoutError | RedisConnectionError | RedisTimeoutError)


def telegram_unavailable(error: Exception) -> bool:
    """Network trouble, Telegram's 5xx or flood control; a bad token is not retried."""
    from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

    return isinstance(
        error, TelegramNetworkError | TelegramServerError | TelegramRetryAfter | TimeoutError
    )


def telegram_wait(error: BaseException) -> float | None:
    from aiogram.exceptions import TelegramRetryAfter

    return float(error.retry_after) if isinstance(error, TelegramRetryAfter) else None
