"""Reading an uploaded file (XLSX or YAML) into raw rows, refusing what is not ours to read.

Nothing here judges the values: a row is kept as its cells; what cannot be read at all
(wrong type, too big, a zip bomb, broken XML) raises `UnreadableFile`.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from core.catalogue.edit import (
    CONSULTATIONS,
    MEASURES,
    ORGANIZATIONS,
)
from core.catalogue.sheet.columns import (
    COLUMNS,
    HELP_SHEET,
    MAX_FILE_BYTES,
    MAX_MEMBER_RATIO,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    RATIO_FROM_BYTES,
)
from core.catalogue.sheet.parse import is_blank

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportProblem:
    """One reason a file cannot be applied; `row` is the spreadsheet row (YAML: entry number).

    `code` picks the reason's text (manager.import.reason.<code>); `message` is the plain
    English fallback; `params` fill the text.
    """

    sheet: str
    row: int | None
    column: str
    code: str
    message: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{self.sheet}: {where}column {self.column}: {self.message}"


@dataclass
class RawEntry:
    kind: str
    row: int
    cells: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


@dataclass
class RawFile:
    source: str
    kinds: set[str] = field(default_factory=set)
    entries: list[RawEntry] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)


class UnreadableFile(ValueError):
    """The file is not a workbook / YAML we can read at all; `code` picks the text."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def file_source(filename: str | None) -> str | None:
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    return None


def read_file(data: bytes, filename: str | None) -> RawFile:
    source = file_source(filename)
    if source is None:
        raise UnreadableFile("type")
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile("size")
    return read_workbook(data) if source == "xlsx" else read_yaml(data)


def check_unpacked_size(data: bytes) -> None:
    """Refuse a workbook whose members would unpack to too much (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile("xlsx") from exc
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if total > MAX_UNPACKED_BYTES or (
            member.file_size > RATIO_FROM_BYTES and ratio > MAX_MEMBER_RATIO
        ):
            log.info("import: workbook refused, unpacks too large")
            raise UnreadableFile("unpacked")


def read_workbook(data: bytes) -> RawFile:
    from openpyxl import load_workbook

    check_unpacked_size(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zip, XML or openpyxl errors: whatever it is, it is not ours
        log.info("import: unreadable workbook (%s)", type(exc).__name__)
        raise UnreadableFile("xlsx") from exc
    raw = RawFile("xlsx")
    try:
        for sheet in workbook.worksheets:
            name = str(sheet.title).strip().lower()
            if name == HELP_SHEET:
                continue
            if name not in COLUMNS:
                raw.problems.append(
                    ImportProblem(
                        str(sheet.title),
                        None,
                        "—",
                        "unknown_sheet",
                        f"unknown sheet {sheet.title!r} (expected measures, organizations, "
                        "consultations)",
                        {"value": str(sheet.title)},
                    )
                )
                continue
            _read_sheet(name, sheet.iter_rows(values_only=True), raw)
    except Exception as exc:  # a sheet's XML is read lazily: broken or forbidden (defusedxml)
        log.info("import: unreadable worksheet (%s)", type(exc).__name__)
        raise UnreadableFile("xlsx") from exc
    finally:
        workbook.close()
    if not raw.kinds and not raw.problems:
        raw.problems.append(
            ImportProblem("—", None, "—", "no_sheets", "no measures/organizations sheet")
        )
    return raw


# Columns of older exports, read under their current name: a measure's `verified_on` always
# held its source's publication date.
LEGACY_HEADERS = {MEASURES: {"verified_on": "source_date"}}


def _read_sheet(kind: str, rows: Iterator[tuple[Any, ...]], raw: RawFile) -> None:
    known = {c.header: c for c in COLUMNS[kind]}
    header_row = next(rows, None)
    headers: list[str | None] = []
    for index, value in enumerate(header_row or ()):
        if is_blank(value):
            headers.append(None)
            continue
        name = str(value).strip().lower()
        name = LEGACY_HEADERS.get(kind, {}).get(name, name)
        letter = _letter(index)
        if name not in known:
            raw.problems.append(
                ImportProblem(
                    kind,
                    1,
                    f"{letter} ({value})",
                    "unknown_column",
                    f"unknown column {value!r}",
                    {"value": str(value)},
                )
            )
            headers.append(None)
        elif name in headers:
            raw.problems.append(
                ImportProblem(
                    kind, 1, f"{letter} ({name})", "duplicate_column", "column appears twice"
                )
            )
            headers.append(None)
        else:
            headers.append(name)
    present = [h for h in headers if h is not None]
    if "id" not in present:
        raw.problems.append(ImportProblem(kind, 1, "id", "missing_column", "no id column"))
        return
    raw.kinds.add(kind)
    raw.headers[kind] = present
    count = 0
    for number, values in enumerate(rows, start=2):
        if all(is_blank(v) for v in values):
            continue
        count += 1
        if count > MAX_ROWS:
            raw.problems.append(
                ImportProblem(
                    kind,
                    number,
                    "—",
                    "too_many_rows",
                    f"more than {MAX_ROWS} rows",
                    {"value": str(MAX_ROWS)},
                )
            )
            return
        cells = {
            header: value
            for header, value in zip(headers, values, strict=False)
            if header is not None
        }
        raw.entries.append(RawEntry(kind, number, cells=cells))


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def read_yaml(data: bytes) -> RawFile:
    """The content format: `measures:` and/or `organizations:` (consultations nested)."""
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UnreadableFile("yaml", "not UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = f"line {mark.line + 1}" if mark is not None else ""
        raise UnreadableFile("yaml", detail) from exc
    raw = RawFile("yaml")
    if not isinstance(parsed, dict) or not ({MEASURES, ORGANIZATIONS} & set(parsed)):
        raw.problems.append(
            ImportProblem("—", None, "—", "no_sheets", "no measures/organizations list")
        )
        return raw
    for kind in (MEASURES, ORGANIZATIONS):
        if kind not in parsed:
            continue
        items = parsed[kind]
        if not isinstance(items, list):
            raw.problems.append(ImportProblem(kind, None, kind, "not_a_list", "must be a list"))
            continue
        raw.kinds.add(kind)
        if kind == ORGANIZATIONS:
            raw.kinds.add(CONSULTATIONS)
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raw.problems.append(
                    ImportProblem(kind, number, "—", "not_a_mapping", "must be a mapping")
                )
                continue
            raw.entries.append(RawEntry(kind, number, data=item))
    return raw
