"""ISO weeks in a region's timezone: parsing "2026-W49", the current and the last completed
week, and their bounds in UTC for SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from core.catalogue.active import CatalogueView

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


class WeekError(ValueError):
    """A week argument that cannot be used; `code` picks the message shown to a person."""

    def __init__(self, code: Literal["format", "range", "future"], message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-W{self.number:02d}"

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    def bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """Local Monday 00:00 and the next Monday 00:00, as aware datetimes in `tz`."""
        start = dt.datetime.combine(self.monday, dt.time(0), tzinfo=tz)
        end = dt.datetime.combine(self.monday + dt.timedelta(days=7), dt.time(0), tzinfo=tz)
        return start, end

    def shift(self, weeks: int) -> Week:
        return week_of(self.monday + dt.timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


def week_of(day: dt.date) -> Week:
    iso = day.isocalendar()
    return Week(iso.year, iso.week)


def parse_week(text: str) -> Week:
    """ "2026-W47" → Week; anything else raises WeekError with a message that says why."""
    match = _WEEK.fullmatch(text.strip())
    if match is None:
        raise WeekError("format", f"week {text!r} is not in the form YYYY-Www, e.g. 2026-W47")
    year, number = int(match[1]), int(match[2])
    if not 2000 <= year <= 2100:
        raise WeekError("range", f"week {text!r}: year must be between 2000 and 2100")
    try:
        dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise WeekError("range", f"week {text!r}: {year} has no ISO week {number}") from None
    return Week(year, number)


def region_timezone(view: CatalogueView, region_code: str) -> ZoneInfo:
    region = view.regions.get(region_code)
    if region is None:
        known = ", ".join(sorted(view.regions))
        raise ValueError(f"unknown region {region_code!r}; known: {known}")
    return ZoneInfo(region.timezone)


def current_week(now: dt.datetime, tz: ZoneInfo) -> Week:
    return week_of(now.astimezone(tz).date())


def last_completed_week(now: dt.datetime, tz: ZoneInfo) -> Week:
    return current_week(now, tz).shift(-1)


def resolve_week(text: str | None, *, now: dt.datetime, tz: ZoneInfo) -> Week:
    """The week asked for (not one that has not started yet), or the last completed one."""
    if text is None or not text.strip():
        return last_completed_week(now, tz)
    week = parse_week(text)
    if week > current_week(now, tz):
        raise WeekError("future", f"week {week.label} has not started yet")
    return week
