"""Clocks: the system's, and a frozen one for tests, benchmarks and the demo's time travel.

The `Clock` protocol itself is a port (core/ports.py); it is re-exported here because most of
the code base names it `core.clock.Clock`.
"""

from __future__ import annotations

import datetime as dt

from core.ports import Clock

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, benchmarks, the demo's time travel)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> None:
        self._now += delta
