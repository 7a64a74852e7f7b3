"""Start-up retries: wait for the database, Redis and Telegram instead of crashing on the first try.

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
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    retries: int = DEFAULT_RETRIES,
    first_delay: float = FIRST_DELAY_SECONDS,
    max_delay: float = MAX_DELAY_SECONDS,
    delay_for: Callable[[BaseException], float | None] = lambda error: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call `attempt` until it succeeds; back off 1, 2, 4… s (capped) between failures.

    Only exceptions in `retry_on` are retried: anything else (a bad token, an invalid
    catalogue) is a configuration problem that waiting cannot fix, so it propagates at once.
    `delay_for` may impose a wait of its own (Telegram's retry_after).
    """
    if retries < 0:
        raise ValueError("retries must not be negative")
    delay = first_delay
    for number in range(1, retries + 2):
        try:
            return await attempt()
        except retry_on as error:
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
