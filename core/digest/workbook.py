"""The digest as an XLSX workbook: the numbers, the lists and the detail sheets, every text
cell plain text (never a formula).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core.catalogue.active import CatalogueView
from core.catalogue.sheet.cells import text_cell
from core.digest.figures import RATE_KEYS, Names, delta, period_bounds
from core.digest.keys import NUMERIC_KEYS, SMALL_LABEL, flat_numbers
from core.texts import Translator


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
    sheet.row(t("digest.xlsx.period"), *period_bounds(digest["period"], t))
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
