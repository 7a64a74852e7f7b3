"""The digest as people read it: a Telegram message, a PNG chart and an XLSX workbook.

Everything here works on the digest object of core.digest (plain data) and a
Translator; nothing talks to Telegram or the database, so the bot, the scheduler and the CLI
render alike. The message is HTML: every text that came from a person is escaped.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape as _escape
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from core import channel_stats
from core.catalogue.active import CatalogueView
from core.catalogue.sheet_cells import text_cell
from core.digest import NUMERIC_KEYS, SMALL_LABEL, flat_numbers
from core.texts import Translator, split_text

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


@dataclass(frozen=True)
class RenderedDigest:
    parts: list[str]
    png: bytes
    xlsx: bytes
    png_name: str
    xlsx_name: str


# --- names and numbers ----------------------------------------------------------------------


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


def _line(key: str, digest: dict[str, Any], t: Translator) -> str:
    current = flat_numbers(digest)[key]
    change = delta(key, current, digest["previous_week"].get(key), t)
    return t(
        "digest.line",
        label=t(f"digest.label.{key}"),
        value=value(key, current, t),
        delta=f" {change}" if change else "",
    )


def _period(period: dict[str, str], t: Translator) -> tuple[str, str]:
    """The week's first and last local day in words: «30 ноября», «6 декабря 2026»."""
    first = dt.datetime.fromisoformat(period["start"]).date()
    last = (dt.datetime.fromisoformat(period["end"]) - dt.timedelta(days=1)).date()
    return t.day(first, year=first.year != last.year), t.day(last)


def _count(count: int | str, t: Translator) -> str:
    """An exact count the language's way, or the masked "<3" (HTML-escaped)."""
    return t.number(count) if isinstance(count, int) else escape(str(count))


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the message --------------------------------------------------------------------------


def render_text(
    digest: dict[str, Any], t: Translator, view: CatalogueView, *, footer: bool = True
) -> str:
    """The Monday-morning message (HTML), all sections; split it with `split_message`.
    Without `footer`, no line about the files and commands that only Telegram has."""
    names = Names(view, t)
    demand, supply = digest["demand"], digest["supply"]
    outcomes, catalogue, attention = digest["outcomes"], digest["catalogue"], digest["attention"]
    sections: list[list[str]] = []

    start, end = _period(digest["period"], t)
    sections.append(
        [
            t("digest.title", region=escape(names.region(digest["region"]))),
            t("digest.period", week=digest["week"], start=start, end=end),
        ]
    )
    sections.append(
        [t("digest.section.headline")]
        + [_line(key, digest, t) for key in HEADLINE_KEYS]
        + [t("digest.deltas_note")]
    )

    lines = [t("digest.section.demand")]
    lines += [_line(key, digest, t) for key in NUMERIC_KEYS["demand"][2:]]
    if demand["top_needs"]:
        lines.append(t("digest.top_needs"))
        lines += [
            t("digest.item", name=escape(names.need(row["need"])), count=t.number(row["count"]))
            for row in demand["top_needs"][:TOP_NEEDS_SHOWN]
        ]
    if demand["no_result_queries"]:
        lines.append(t("digest.no_result_queries"))
        lines += [
            t(
                "digest.query",
                query=escape(_short(row["query"], 100)),
                count=t.number(row["count"]),
            )
            for row in demand["no_result_queries"][:LIST_SHOWN]
        ]
    if demand["by_municipality"]:
        lines.append(t("digest.by_municipality"))
        lines += [
            t("digest.item", name=escape(names.municipality(row["municipality"])), count=c)
            for row in demand["by_municipality"][:LIST_SHOWN]
            for c in [_count(row["requests"], t)]
        ]
        if len(demand["by_municipality"]) > LIST_SHOWN:
            lines.append(t("digest.more", n=len(demand["by_municipality"]) - LIST_SHOWN))
        if any(row["requests"] == SMALL_LABEL for row in demand["by_municipality"]):
            lines.append(t("digest.small_note"))
    lines += channel_stats.digest_lines(demand, t)
    sections.append(lines)

    lines = [t("digest.section.supply")]
    lines += [_line(key, digest, t) for key in NUMERIC_KEYS["supply"]]
    if supply["organizations"]:
        lines.append(t("digest.organizations"))
        for row in supply["organizations"][:LIST_SHOWN]:
            lines.append(
                t(
                    "digest.organization",
                    name=escape(names.organization(row["id"])),
                    received=row["received"],
                    accepted=row["accepted"],
                    resolved=row["resolved"],
                    median=duration(row["median_minutes_to_accept"], t),
                    rating=value("rating_avg", row["rating_avg"], t),
                )
            )
        if len(supply["organizations"]) > LIST_SHOWN:
            lines.append(t("digest.more", n=len(supply["organizations"]) - LIST_SHOWN))
    sections.append(lines)

    lines = [t("digest.section.outcomes")]
    lines += [_line(key, digest, t) for key in NUMERIC_KEYS["outcomes"]]
    if outcomes["not_helped_reasons"]:
        lines.append(t("digest.not_helped_reasons"))
        lines += [
            t("digest.item", name=t(f"digest.reason.{code}"), count=count)
            for code, count in outcomes["not_helped_reasons"].items()
        ]
    if outcomes["low_ratings"]:
        lines.append(t("digest.low_ratings"))
        for row in outcomes["low_ratings"]:
            comment = row["comment"]
            lines.append(
                t(
                    "digest.low_rating",
                    stars="★" * int(row["rating"]),
                    comment=escape(_short(comment, COMMENT_SHOWN))
                    if comment
                    else t("digest.no_comment"),
                )
            )
    sections.append(lines)

    lines = [t("digest.section.catalogue")]
    stale = catalogue["stale_measures"]
    lines.append(t("digest.stale", n=len(stale)))
    lines += [t("digest.entry", name=escape(names.measure(m))) for m in stale[:LIST_SHOWN]]
    if len(stale) > LIST_SHOWN:
        lines.append(t("digest.more", n=len(stale) - LIST_SHOWN))
    if catalogue["unhelpful_measures"]:
        lines.append(t("digest.unhelpful"))
        lines += [
            t("digest.item", name=escape(names.measure(row["id"])), count=row["count"])
            for row in catalogue["unhelpful_measures"][:LIST_SHOWN]
        ]
    sections.append(lines)

    lines = [t("digest.section.attention")]
    overdue, silent = attention["overdue_referrals"], attention["silent_organizations"]
    if not overdue and not silent:
        lines.append(t("digest.all_clear"))
    if overdue:
        shown = ", ".join(f"№{number}" for number in overdue[:OVERDUE_SHOWN])
        if len(overdue) > OVERDUE_SHOWN:
            shown += " " + t("digest.more", n=len(overdue) - OVERDUE_SHOWN)
        lines.append(t("digest.overdue", n=len(overdue), numbers=shown))
    if silent:
        lines.append(t("digest.silent", n=len(silent)))
        lines += [t("digest.entry", name=escape(names.organization(org))) for org in silent]
    if attention.get("undelivered_notifications"):
        lines.append(t("digest.undelivered", count=attention["undelivered_notifications"]))
    sections.append(lines)
    if footer:
        sections.append([t("digest.footer")])
    return "\n\n".join("\n".join(lines) for lines in sections)


def split_message(text: str, limit: int = LIMIT) -> list[str]:
    return split_text(text, limit)


_TAG = re.compile(r"<[^>]+>")


def to_plain(text: str) -> str:
    """The HTML message as terminal text (for the CLI)."""
    return unescape(_TAG.sub("", text))


# --- the chart ----------------------------------------------------------------------------


def render_chart(digest: dict[str, Any], t: Translator, view: CatalogueView) -> bytes:
    """A PNG: requests by need on the left, this week's referral outcomes on the right."""
    # The object API with an Agg canvas: no pyplot global state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = Names(view, t)
    figure = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(
        t("digest.chart.title", region=names.region(digest["region"]), week=digest["week"]),
        fontsize=13,
    )
    demand_ax, outcome_ax = figure.subplots(1, 2, width_ratios=(3, 2))

    needs = digest["demand"]["top_needs"][:LIST_SHOWN]
    demand_ax.set_title(t("digest.chart.demand"), fontsize=11)
    if needs:
        labels = [_short(names.need(row["need"]), 32) for row in reversed(needs)]
        counts = [row["count"] for row in reversed(needs)]
        bars = demand_ax.barh(labels, counts, color="#4C78A8")
        demand_ax.bar_label(bars, padding=3, fontsize=9)
        demand_ax.margins(x=0.15)
    else:
        demand_ax.text(0.5, 0.5, t("digest.chart.empty"), ha="center", va="center")
        demand_ax.set_yticks([])
    demand_ax.set_xticks([])
    demand_ax.tick_params(axis="y", labelsize=9)

    supply = digest["supply"]
    outcome_ax.set_title(t("digest.chart.outcomes"), fontsize=11)
    labels = [t(f"digest.chart.{key}") for key in CHART_OUTCOMES]
    current = [supply[key] for key in CHART_OUTCOMES]
    previous = [digest["previous_week"].get(key) or 0 for key in CHART_OUTCOMES]
    positions = range(len(CHART_OUTCOMES))
    width = 0.4
    outcome_ax.bar(
        [p - width / 2 for p in positions],
        previous,
        width,
        color="#BBBBBB",
        label=t("digest.chart.previous"),
    )
    bars = outcome_ax.bar(
        [p + width / 2 for p in positions],
        current,
        width,
        color="#F58518",
        label=t("digest.chart.current"),
    )
    outcome_ax.bar_label(bars, padding=2, fontsize=9)
    outcome_ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=9)
    outcome_ax.legend(fontsize=9)
    outcome_ax.margins(y=0.15)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# --- the workbook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Formatted:
    value: Any
    number_format: str


def _metric(key: str, number: Any) -> Any:
    """A digest number as a spreadsheet cell: rates as percentages, averages rounded."""
    if number is None:
        return None
    if key in RATE_KEYS:
        return _Formatted(number, "0.0%")
    if isinstance(number, float):
        return round(number, 2)
    return number


class _Sheet:
    """A write-only worksheet with bold headers and readable column widths."""

    def __init__(self, workbook: Any, title: str, widths: Sequence[int]) -> None:
        self.ws = workbook.create_sheet(title[:31])
        for i, width in enumerate(widths):
            self.ws.column_dimensions[chr(ord("A") + i)].width = width

    def header(self, *cells: str) -> None:
        from openpyxl.styles import Font

        row = []
        for text in cells:
            cell = text_cell(self.ws, text)
            cell.font = Font(bold=True)
            row.append(cell)
        self.ws.append(row)

    def row(self, *cells: Any) -> None:
        from openpyxl.cell import WriteOnlyCell

        row: list[Any] = []
        for item in cells:
            fmt = None
            if isinstance(item, _Formatted):
                item, fmt = item.value, item.number_format
            elif isinstance(item, dt.datetime):
                fmt = "yyyy-mm-dd hh:mm"
            elif isinstance(item, dt.date):
                fmt = "yyyy-mm-dd"
            if isinstance(item, str):
                row.append(text_cell(self.ws, item))
                continue
            if fmt is None or item is None:
                row.append(item)
                continue
            cell = WriteOnlyCell(self.ws, value=item)
            cell.number_format = fmt
            row.append(cell)
        self.ws.append(row)

    def gap(self) -> None:
        self.ws.append([])


def _naive_local(moment: dt.datetime | None, tz: ZoneInfo) -> dt.datetime | None:
    # Excel has no timezones: local wall-clock time of the region, as the manager lives it.
    if moment is None:
        return None
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def render_xlsx(
    digest: dict[str, Any],
    t: Translator,
    view: CatalogueView,
    *,
    referrals: Iterable[dict[str, Any]] = (),
    matrix: Iterable[dict[str, Any]] = (),
) -> bytes:
    """One sheet per section (after a summary with the deltas), plus referral-level rows.

    The referral rows carry no personal data: no description, phone or person ids.
    """
    from openpyxl import Workbook

    names = Names(view, t)
    region = view.regions.get(digest["region"])
    tz = ZoneInfo(region.timezone) if region is not None else ZoneInfo("UTC")
    workbook = Workbook(write_only=True)
    current = flat_numbers(digest)
    previous = digest["previous_week"]

    sheet = _Sheet(workbook, t("digest.sheet.summary"), (40, 16, 16, 14))
    sheet.row(t("digest.xlsx.region"), names.region(digest["region"]))
    sheet.row(t("digest.xlsx.week"), digest["week"], previous.get("week"))
    sheet.row(t("digest.xlsx.period"), *_period(digest["period"], t))
    sheet.gap()
    sheet.header(
        t("digest.xlsx.metric"),
        t("digest.xlsx.this_week"),
        t("digest.xlsx.previous_week"),
        t("digest.xlsx.change"),
    )
    for key in current:
        sheet.row(
            t(f"digest.label.{key}"),
            _metric(key, current[key]),
            _metric(key, previous.get(key)),
            delta(key, current[key], previous.get(key), t),
        )
    sheet.gap()
    sheet.row(t("digest.xlsx_deltas_note"))

    demand = digest["demand"]
    sheet = _Sheet(workbook, t("digest.sheet.demand"), (44, 30, 12))
    for key in NUMERIC_KEYS["demand"]:
        sheet.row(t(f"digest.label.{key}"), _metric(key, current[key]))
    sheet.gap()
    sheet.header(t("digest.xlsx.need"), t("digest.xlsx.requests"))
    for row in demand["top_needs"]:
        sheet.row(names.need(row["need"]), row["count"])
    sheet.gap()
    sheet.header(t("digest.xlsx.query"), t("digest.xlsx.times"))
    for row in demand["no_result_queries"]:
        sheet.row(row["query"], row["count"])
    sheet.gap()
    sheet.header(t("digest.xlsx.municipality"), t("digest.xlsx.requests"))
    for row in demand["by_municipality"]:
        sheet.row(names.municipality(row["municipality"]), row["requests"])
    sheet.gap()
    sheet.header(t("digest.xlsx.need"), t("digest.xlsx.municipality"), t("digest.xlsx.requests"))
    masked = any(row["requests"] == SMALL_LABEL for row in demand["by_municipality"])
    for row in matrix:
        masked = masked or row["requests"] == SMALL_LABEL
        sheet.row(
            names.need(row["need"]), names.municipality(row["municipality"]), row["requests"]
        )
    if masked:
        sheet.gap()
        sheet.row(t("digest.xlsx_small_note"))

    supply = digest["supply"]
    sheet = _Sheet(workbook, t("digest.sheet.supply"), (44, 12, 12, 12, 22, 14))
    for key in NUMERIC_KEYS["supply"]:
        sheet.row(t(f"digest.label.{key}"), _metric(key, current[key]))
    sheet.gap()
    sheet.header(
        t("digest.xlsx.organization"),
        t("digest.xlsx.received"),
        t("digest.xlsx.accepted"),
        t("digest.xlsx.resolved"),
        t("digest.xlsx.median_minutes"),
        t("digest.xlsx.rating"),
    )
    for row in supply["organizations"]:
        sheet.row(
            names.organization(row["id"]),
            row["received"],
            row["accepted"],
            row["resolved"],
            _metric("median_minutes_to_accept", row["median_minutes_to_accept"]),
            _metric("rating_avg", row["rating_avg"]),
        )

    outcomes = digest["outcomes"]
    sheet = _Sheet(workbook, t("digest.sheet.outcomes"), (44, 60))
    for key in NUMERIC_KEYS["outcomes"]:
        sheet.row(t(f"digest.label.{key}"), _metric(key, current[key]))
    sheet.gap()
    sheet.header(t("digest.xlsx.reason"), t("digest.xlsx.count"))
    for code, count in outcomes["not_helped_reasons"].items():
        sheet.row(t(f"digest.reason.{code}"), count)
    sheet.gap()
    sheet.header(t("digest.xlsx.rating"), t("digest.xlsx.comment"))
    for row in outcomes["low_ratings"]:
        sheet.row(row["rating"], row["comment"] or "")

    catalogue = digest["catalogue"]
    sheet = _Sheet(workbook, t("digest.sheet.catalogue"), (36, 60, 14))
    sheet.header(t("digest.xlsx.stale"), t("digest.xlsx.measure"), t("digest.xlsx.verified"))
    for measure_id in catalogue["stale_measures"]:
        measure = view.measures.get(measure_id)
        sheet.row(
            measure_id,
            names.measure(measure_id),
            measure.checked_on if measure is not None else None,
        )
    sheet.gap()
    sheet.header(t("digest.xlsx.unhelpful"), t("digest.xlsx.measure"), t("digest.xlsx.count"))
    for row in catalogue["unhelpful_measures"]:
        sheet.row(row["id"], names.measure(row["id"]), row["count"])

    attention = digest["attention"]
    sheet = _Sheet(workbook, t("digest.sheet.attention"), (20, 44))
    sheet.header(t("digest.xlsx.overdue"))
    for number in attention["overdue_referrals"]:
        sheet.row(number)
    sheet.gap()
    sheet.header(t("digest.xlsx.silent"), t("digest.xlsx.organization"))
    for org in attention["silent_organizations"]:
        sheet.row(org, names.organization(org))

    sheet = _Sheet(workbook, t("digest.sheet.referrals"), (10, 18, 36, 28, 36, 16, 18, 18, 18, 14))
    sheet.header(
        t("digest.xlsx.number"),
        t("digest.xlsx.created"),
        t("digest.xlsx.need"),
        t("digest.xlsx.municipality"),
        t("digest.xlsx.organization"),
        t("digest.xlsx.status"),
        t("digest.xlsx.accepted_at"),
        t("digest.xlsx.resolved_at"),
        t("digest.xlsx.closed_at"),
        t("digest.xlsx.minutes_to_accept"),
    )
    for row in referrals:
        sheet.row(
            row["id"],
            _naive_local(row["created_at"], tz),
            names.need(row["need"]),
            names.municipality(row["municipality"]),
            names.organization(row["organization"]) if row["organization"] else "",
            t(f"digest.status.{row['status']}"),
            _naive_local(row["accepted_at"], tz),
            _naive_local(row["resolved_at"], tz),
            _naive_local(row["closed_at"], tz),
            row["minutes_to_accept"],
        )

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render_digest(
    digest: dict[str, Any],
    t: Translator,
    view: CatalogueView,
    *,
    referrals: Iterable[dict[str, Any]] = (),
    matrix: Iterable[dict[str, Any]] = (),
) -> RenderedDigest:
    """Message parts, chart and workbook together (CPU work: run it in a thread)."""
    stem = f"digest-{digest['region']}-{digest['week']}"
    return RenderedDigest(
        parts=split_message(render_text(digest, t, view)),
        png=render_chart(digest, t, view),
        xlsx=render_xlsx(digest, t, view, referrals=referrals, matrix=matrix),
        png_name=f"{stem}.png",
        xlsx_name=f"{stem}.xlsx",
    )


# --- the cluster view ---------------------------------------------------------------------------


def render_cluster_text(overview: dict[str, Any], t: Translator, view: CatalogueView) -> str:
    """Pilot regions side by side: one block per region, same lines in the same order."""
    names = Names(view, t)
    blocks = [t("digest.cluster.title", week=overview["week"])]
    for row in overview["regions"]:
        previous = row["previous_week"]
        lines = [t("digest.cluster.region", region=escape(names.region(row["region"])))]
        for key in CLUSTER_KEYS:
            change = delta(key, row[key], previous.get(key), t) if key in previous else ""
            lines.append(
                t(
                    "digest.line",
                    label=t(f"digest.label.{key}"),
                    value=value(key, row[key], t),
                    delta=f" {change}" if change else "",
                )
            )
        blocks.append("\n".join(lines))
    blocks.append(t("digest.cluster.footer"))
    return "\n\n".join(blocks)
