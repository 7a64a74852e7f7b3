"""A region's entries written out as a workbook, one sheet per kind, ids first."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.edit import (
    KINDS,
    Entries,
    Entry,
    region_entries,
)
from core.catalogue.sheet.cells import plain_row, text_cell
from core.catalogue.sheet.columns import COLUMNS, HELP_SHEET, Column


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _empty_rules(value: Any) -> bool:
    return value in (None, {}, [], {"any_of": []})


def cell_value(column: Column, entry: Entry) -> Any:
    """What an entry's column shows in the workbook."""
    if column.kind == "active":
        return entry.active
    if column.kind == "organization":
        return entry.organization
    value = _get(entry.data, column.path)
    if value is None:
        return None
    if column.kind == "list":
        return ", ".join(str(v) for v in value)
    if column.kind == "lines":
        return "\n".join(str(v) for v in value)
    if column.kind == "json":
        return None if _empty_rules(value) else json.dumps(value, ensure_ascii=False)
    if column.kind == "date":
        return dt.date.fromisoformat(str(value))
    return value


def export_workbook(entries: Entries, help_lines: Sequence[str] = ()) -> bytes:
    """The region's entries as an XLSX file (one sheet per kind, ids first)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for kind in KINDS:
        columns = COLUMNS[kind]
        sheet = workbook.create_sheet(kind)
        sheet.append(plain_row(sheet, [c.header for c in columns]))
        for cell in sheet[1]:
            cell.font = bold
        for entry in sorted(entries.get(kind, {}).values(), key=lambda e: e.id):
            sheet.append(plain_row(sheet, [cell_value(c, entry) for c in columns]))
        for index, column in enumerate(columns, start=1):
            letter = sheet.cell(row=1, column=index).column_letter
            wide = column.kind in ("lines", "json") or column.header.startswith(
                ("summary", "description", "eligibility", "title", "name", "amount")
            )
            sheet.column_dimensions[letter].width = 40 if wide else 16
            if column.kind == "date":
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = "YYYY-MM-DD"
            if wide:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.alignment = wrap
        sheet.freeze_panes = "B2"
    if help_lines:
        info = workbook.create_sheet(HELP_SHEET)
        for line in help_lines:
            info.append([text_cell(info, line)])
        info.column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_region(
    session: AsyncSession, region_code: str, help_lines: Sequence[str] = ()
) -> bytes:
    return export_workbook(await region_entries(session, region_code), help_lines)
