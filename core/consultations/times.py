"""Consultation times: a region's local time, how a slot is shown, how typed times are read.

Slots are stored in UTC; families and coordinators read and type them in the region's time.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from core.catalogue.active import CatalogueView
from core.texts import Translator

MAX_LINES = 100


def region_timezone(view: CatalogueView, region_code: str | None) -> ZoneInfo:
    region = view.regions.get(region_code or "")
    return ZoneInfo(region.timezone if region else "Europe/Moscow")


def format_slot(t: Translator, starts_at: dt.datetime, tz: ZoneInfo) -> str:
    """A slot's start in the region's local time, e.g. "пн 1 дек, 14:00"."""
    local = starts_at.astimezone(tz)
    weekdays = t("consult.weekdays").split()
    months = t("consult.months").split()
    return t(
        "consult.slot_time",
        weekday=weekdays[local.weekday()],
        day=local.day,
        month=months[local.month - 1],
        time=local.strftime("%H:%M"),
    )


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+|T)(\d{1,2})[:.](\d{2})$")
_DOTTED = re.compile(
    r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}|\d{2}))?(?:\s+|\s*,\s*)(\d{1,2})[:.](\d{2})$"
)


def parse_times(text: str, tz: ZoneInfo, now: dt.datetime) -> tuple[list[dt.datetime], list[str]]:
    """Times typed one per line ("2026-12-01 15:00" or "01.12 15:00"), local to the region.

    Returns the understood times in UTC and the lines that were not understood. A date without
    a year is the next such day from today on (so "05.01" typed in December means January).
    """
    today = now.astimezone(tz).date()
    found: list[dt.datetime] = []
    bad: list[str] = []
    for raw in text.splitlines()[:MAX_LINES]:
        line = raw.strip()
        if not line:
            continue
        moment = _parse_line(line, today)
        if moment is None:
            bad.append(line)
        else:
            found.append(moment.replace(tzinfo=tz).astimezone(dt.UTC))
    return found, bad


def _parse_line(line: str, today: dt.date) -> dt.datetime | None:
    try:
        if match := _ISO.match(line):
            year, month, day, hour, minute = (int(g) for g in match.groups())
            return dt.datetime(year, month, day, hour, minute)
        if match := _DOTTED.match(line):
            day, month = int(match[1]), int(match[2])
            hour, minute = int(match[4]), int(match[5])
            if match[3]:
                year = int(match[3])
                year += 2000 if year < 100 else 0
            else:
                year = today.year
                if dt.date(year, month, day) < today:
                    year += 1
            return dt.datetime(year, month, day, hour, minute)
    except ValueError:  # 31.02, 25:00 and the like
        return None
    return None
