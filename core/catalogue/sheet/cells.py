"""Spreadsheet cells written from stored text: always plain text, never a formula.

A family's search or comment, or a catalogue field, that starts with `=`, `+`, `-` or `@`
would otherwise become a live formula (`=HYPERLINK(…)`, `=IMPORTXML(…)`) in the manager's
Excel or LibreOffice, and a formula cell reads back as empty on import. So every text cell
is a string cell (`t="inlineStr"`/`"s"`, never `"f"`) with Excel's quote prefix, which keeps
it text when someone edits the cell; the text itself is unchanged, so export → import round
trips. Carriage returns become line feeds (XML turns a bare CR into LF anyway) and control
characters XML cannot carry are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def clean_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))


def text_cell(sheet: Any, value: str) -> Any:
    """A string cell of `sheet` (write-only or not) that no spreadsheet evaluates."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=clean_text(value))
    cell.data_type = "s"  # openpyxl takes a leading "=" for a formula
    cell.quotePrefix = True
    return cell


def plain_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """A row for `sheet.append` with every string as a plain text cell."""
    return [text_cell(sheet, value) if isinstance(value, str) else value for value in values]
