"""Names and numbers as people read them in the digest: regions, needs and organisations by
name, percents, durations, changes against the previous week. HTML-escaped where a person
wrote the text.
"""

from __future__ import annotations

import datetime as dt
from html import escape as _escape
from typing import Any

from core.catalogue.active import CatalogueView
from core.digest.keys import flat_numbers
from core.texts import Translator

LIMIT = 4096


def escape(text: str) -> str:
    """For HTML text nodes: <, > and & only (quotes stay readable in names)."""
    return _escape(text, quote=False)


TOP_NEEDS_SHOWN = 5
LIST_SHOWN = 10
OVERDUE_SHOWN = 30
COMMENT_SHOWN = 200
HEADLINE_KEYS = (
    "new_families",
    "active_families",
    "referrals_created",
    "resolved",
    "got_help_rate",
    "rating_avg",
)
RATE_KEYS = frozenset({"got_help_rate", "closed_loop_rate"})
CHART_OUTCOMES = (
    "referrals_created",
    "accepted",
    "resolved",
    "not_helped",
    "declined",
    "unrouted",
)
CLUSTER_KEYS = (
    "new_families",
    "active_families",
    "searches_no_result",
    "referrals_created",
    "accepted",
    "resolved",
    "unrouted",
    "median_minutes_to_accept",
    "sla_breaches",
    "got_help_rate",
    "closed_loop_rate",
    "rating_avg",
    "overdue_referrals",
)


class Names:
    """Catalogue ids to titles in the reader's language; unknown ids stay as they are."""

    def __init__(self, view: CatalogueView, t: Translator) -> None:
        self.view = view
        self.t = t
        self.ru = t.lang == "ru"

    def region(self, code: str) -> str:
        region = self.view.regions.get(code)
        if region is None:
            return code
        return region.name if self.ru else region.name_en

    def need(self, need_id: str) -> str:
        need = self.view.needs.get(need_id)
        if need is None:
            return need_id
        return need.title if self.ru else need.title_en

    def municipality(self, mun_id: str | None) -> str:
        if mun_id is None:
            return self.t("digest.no_municipality")
        mun = self.view.municipality(mun_id)
        if mun is None:
            return mun_id
        return mun.name if self.ru else mun.name_en

    def organization(self, org_id: str | None) -> str:
        if org_id is None:
            return "—"
        org = self.view.organizations.get(org_id)
        if org is None:
            return org_id
        return org.name if self.ru else org.name_en

    def measure(self, measure_id: str) -> str:
        measure = self.view.measures.get(measure_id)
        if measure is None:
            return measure_id
        return measure.title if self.ru else measure.title_en


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def duration(minutes: float | None, t: Translator) -> str:
    if minutes is None:
        return "—"
    total = round(minutes)
    if total < 60:
        return t("digest.unit.minutes", m=total)
    if total < 24 * 60:
        if total % 60 == 0:
            return t("digest.unit.whole_hours", h=total // 60)
        return t("digest.unit.hours", h=total // 60, m=total % 60)
    return t.plural("digest.unit.days", total // (24 * 60), h=total % (24 * 60) // 60)


def value(key: str, number: Any, t: Translator) -> str:
    if key in RATE_KEYS:
        return percent(number)
    if key == "median_minutes_to_accept":
        return duration(number, t)
    if key == "rating_avg":
        return "—" if number is None else t.number(number, 1)
    if isinstance(number, int | float):
        return t.number(number)
    return str(number)


def delta(key: str, current: Any, previous: Any, t: Translator) -> str:
    """Week-over-week change: "▲3", "▼2", "=" — or nothing when a side is unknown."""
    if current is None or previous is None:
        return ""
    change = current - previous
    if key in RATE_KEYS:
        change = round(change * 100)
        shown = t("digest.unit.pp", n=abs(change))
    elif key == "median_minutes_to_accept":
        change = round(change)
        shown = duration(abs(change), t)
    elif key == "rating_avg":
        change = round(change, 1)
        shown = t.number(abs(change), 1)
    else:
        shown = t.number(abs(change))
    if change > 0:
        return f"▲{shown}"
    if change < 0:
        return f"▼{shown}"
    return "="


def number_line(key: str, digest: dict[str, Any], t: Translator) -> str:
    current = flat_numbers(digest)[key]
    change = delta(key, current, digest["previous_week"].get(key), t)
    return t(
        "digest.line",
        label=t(f"digest.label.{key}"),
        value=value(key, current, t),
        delta=f" {change}" if change else "",
    )


def period_bounds(period: dict[str, str], t: Translator) -> tuple[str, str]:
    """The week's first and last local day in words: «30 ноября», «6 декабря 2026»."""
    first = dt.datetime.fromisoformat(period["start"]).date()
    last = (dt.datetime.fromisoformat(period["end"]) - dt.timedelta(days=1)).date()
    return t.day(first, year=first.year != last.year), t.day(last)


def count_text(count: int | str, t: Translator) -> str:
    """An exact count the language's way, or the masked "<3" (HTML-escaped)."""
    return t.number(count) if isinstance(count, int) else escape(str(count))


def shortened(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
