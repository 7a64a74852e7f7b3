"""A region's catalogue as a spreadsheet (or YAML): export, and import that checks everything
before it changes anything.

The workbook has one sheet per kind (measures, organizations, consultations), a header row of
field names and one row per entry, ids included. An import is validated as a whole with the
catalogue schema plus cross-checks (needs exist, municipalities belong to the region, the
region is the manager's, ids are not another region's); any problem comes back as
"sheet, row, column: reason" and nothing is applied. A valid file is applied in one
transaction and recorded in `catalogue_imports`, so the previous version can be restored.

A sheet present in the file is the complete list of that kind for the region: a row that is
missing deactivates the entry, `active = no` does too. A sheet that is absent leaves that kind
alone. A column that is absent keeps the entries' current values for it.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.catalogue.edit import (
    CONSULTATIONS,
    KINDS,
    MEASURES,
    ORGANIZATIONS,
    ApplySummary,
    Entries,
    Entry,
    apply_entries,
    dump,
    entries_from_json,
    region_entries,
    snapshot_json,
)
from core.catalogue.sheet_cells import plain_row, text_cell
from core.clock import Clock
from core.reminders import new_help
from db import models
from db.models.manager import CatalogueImport

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
# An XLSX is a zip: a small upload can unpack to gigabytes of XML. The sizes in the zip's
# directory are binding (zipfile stops at the declared size and fails the CRC), so they are
# checked before openpyxl reads anything. A full real catalogue unpacks to a few MB.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_MEMBER_RATIO = 100  # for members over 1 MiB; XML of real sheets compresses 5-20 times
RATIO_FROM_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Organisation ids travel in button data (64 bytes with the action and a value).
MAX_ORG_ID = 40
HELP_SHEET = "help"
LIST_SPLIT = re.compile(r"[,;\n]")
RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
TRUE_WORDS = frozenset({"yes", "y", "true", "1", "да", "д", "+", "✓", "✅"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "нет", "н", "-", "—"})


@dataclass(frozen=True)
class Column:
    """A spreadsheet column: its header, where it sits in the entry, and how cells read.

    Kinds: text, list (comma-separated), lines (one item per line), number, date, bool,
    json, active (the row's active flag), organization (a consultation's organisation).
    """

    header: str
    path: tuple[str, ...]
    kind: str = "text"


MEASURE_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("level", ("level",)),
    Column("region", ("region",)),
    Column("organization", ("organization",)),
    Column("title", ("title",)),
    Column("title_en", ("title_en",)),
    Column("summary", ("summary",)),
    Column("summary_en", ("summary_en",)),
    Column("needs", ("needs",), "list"),
    Column("keywords", ("keywords",), "list"),
    Column("amount", ("amount", "text")),
    Column("amount_en", ("amount", "text_en")),
    Column("amount_value", ("amount", "value"), "number"),
    Column("amount_as_of", ("amount", "as_of"), "date"),
    Column("eligibility", ("eligibility", "explanation")),
    Column("eligibility_en", ("eligibility", "explanation_en")),
    Column("eligibility_rules", ("eligibility", "rules"), "json"),
    Column("documents", ("documents",), "lines"),
    Column("documents_en", ("documents_en",), "lines"),
    Column("channels", ("how_to_apply", "channels"), "list"),
    Column("steps", ("how_to_apply", "steps"), "lines"),
    Column("steps_en", ("how_to_apply", "steps_en"), "lines"),
    Column("apply_url", ("apply_url",)),
    Column("legal_basis", ("legal_basis",)),
    Column("source_url", ("source_url",)),
    Column("source_kind", ("source_kind",)),
    Column("source_date", ("source_date",), "date"),
    Column("checked_on", ("checked_on",), "date"),
    Column("more_sources", ("more_sources",), "json"),
    Column("caution", ("caution",)),
    Column("caution_en", ("caution_en",)),
    Column("demo", ("demo",), "bool"),
    Column("apply_within", ("apply_within",), "json"),
    Column("apply_window", ("apply_window",), "json"),
)
ORGANIZATION_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("name", ("name",)),
    Column("name_en", ("name_en",)),
    Column("kind", ("kind",)),
    Column("region", ("region",)),
    Column("description", ("description",)),
    Column("description_en", ("description_en",)),
    Column("needs", ("needs",), "list"),
    Column("municipalities", ("municipalities",), "list"),
    Column("capacity", ("capacity",), "number"),
    Column("phone", ("contacts", "phone")),
    Column("email", ("contacts", "email")),
    Column("website", ("contacts", "website")),
    Column("address", ("contacts", "address")),
    Column("hours", ("contacts", "hours")),
    Column("keywords", ("keywords",), "list"),
    Column("source_url", ("source_url",)),
    Column("verified_on", ("verified_on",), "date"),
    Column("demo", ("demo",), "bool"),
)
CONSULTATION_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("organization", (), "organization"),
    Column("title", ("title",)),
    Column("title_en", ("title_en",)),
    Column("need", ("need",)),
    Column("format", ("format",)),
    Column("description", ("description",)),
    Column("description_en", ("description_en",)),
    Column("duration_minutes", ("duration_minutes",), "number"),
    Column("free", ("free",), "bool"),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    MEASURES: MEASURE_COLUMNS,
    ORGANIZATIONS: ORGANIZATION_COLUMNS,
    CONSULTATIONS: CONSULTATION_COLUMNS,
}
SCHEMAS: dict[str, type[BaseModel]] = {
    MEASURES: schema.Measure,
    ORGANIZATIONS: schema.Organization,
    CONSULTATIONS: schema.Consultation,
}


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


# --- export --------------------------------------------------------------------------------


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


# --- reading files -------------------------------------------------------------------------


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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


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
        if _blank(value):
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
        if all(_blank(v) for v in values):
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


# --- validation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportContext:
    region: str
    today: dt.date
    need_ids: frozenset[str]
    municipality_ids: frozenset[str]
    current: Entries
    # kind -> id -> the other region that owns it ("federal" for federal measures)
    foreign: dict[str, dict[str, str]]


async def import_context(
    session: AsyncSession, *, region_code: str, view: CatalogueView, today: dt.date
) -> ImportContext:
    region = view.regions[region_code]
    foreign: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for entry_id, owner in await session.execute(
        select(models.Measure.id, models.Measure.region_code)
    ):
        if owner != region_code:
            foreign[MEASURES][entry_id] = owner or "federal"
    for entry_id, owner in await session.execute(
        select(models.Organization.id, models.Organization.region_code)
    ):
        if owner != region_code:
            foreign[ORGANIZATIONS][entry_id] = owner
    for entry_id, owner in await session.execute(
        select(models.Consultation.id, models.Organization.region_code).join(
            models.Organization, models.Organization.id == models.Consultation.organization_id
        )
    ):
        if owner != region_code:
            foreign[CONSULTATIONS][entry_id] = owner
    return ImportContext(
        region=region_code,
        today=today,
        need_ids=frozenset(view.needs),
        municipality_ids=frozenset(m.id for m in region.municipalities),
        current=await region_entries(session, region_code),
        foreign=foreign,
    )


@dataclass
class ImportPlan:
    desired: Entries
    problems: list[ImportProblem]


class _Locator:
    """Turns a field path into the column a person sees (spreadsheet) or a dotted path."""

    def __init__(self, kind: str, spreadsheet: bool, prefix: tuple[str | int, ...] = ()) -> None:
        self.kind = kind
        self.spreadsheet = spreadsheet
        self.prefix = prefix

    def column(self, loc: tuple[str | int, ...]) -> str:
        if not self.spreadsheet:
            full = self.prefix + loc
            return ".".join(str(part) for part in full) or "—"
        columns = COLUMNS[self.kind]
        for size in range(len(loc), 0, -1):
            head = loc[:size]
            for column in columns:
                if column.path and column.path == head:
                    return column.header
        for column in columns:
            if column.path and column.path[: len(loc)] == loc:
                return column.header
        return "id" if not loc else str(loc[0])


def _problem(
    raw: RawEntry,
    where: _Locator,
    loc: tuple[str | int, ...],
    code: str,
    message: str,
    **params: object,
) -> ImportProblem:
    return ImportProblem(
        raw.kind, raw.row, where.column(loc), code, message, {k: str(v) for k, v in params.items()}
    )


def _pydantic_problems(
    raw: RawEntry, where: _Locator, error: ValidationError
) -> list[ImportProblem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        params = {k: str(v) for k, v in (item.get("ctx") or {}).items()}
        value = item.get("input")
        if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
            params.setdefault("value", str(value)[:60])
        problems.append(
            ImportProblem(
                raw.kind, raw.row, where.column(loc), item["type"], str(item["msg"]), params
            )
        )
    return problems


def _text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _bool(value: Any) -> bool | str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return str(value).strip()


def _cell(column: Column, value: Any) -> Any:
    """A cell as the schema wants it; what cannot be read is passed on for the schema to
    report (with the column) rather than guessed."""
    if column.kind == "list":
        text = _text(value)
        if text is None:
            return None
        return [part.strip() for part in LIST_SPLIT.split(text) if part.strip()] or None
    if column.kind == "lines":
        text = _text(value)
        if text is None:
            return None
        return [line.strip() for line in text.splitlines() if line.strip()] or None
    if column.kind == "number":
        if _blank(value):
            return None
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return value
        return str(value).strip().replace(" ", "").replace(",", ".")
    if column.kind == "date":
        if _blank(value):
            return None
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        text = str(value).strip()
        match = RU_DATE.match(text)
        if match:
            day, month, year = match.groups()
            return f"{year}-{int(month):02d}-{int(day):02d}"
        return text
    if column.kind == "bool":
        return _bool(value)
    return _text(value)


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "rules":
            value = _prune(value)
            if not value:
                continue
        out[key] = value
    return out


@dataclass
class _Parsed:
    raw: RawEntry
    where: _Locator
    model: Any
    active: bool
    organization: str | None = None


class _Validator:
    def __init__(self, raw: RawFile, ctx: ImportContext) -> None:
        self.raw = raw
        self.ctx = ctx
        self.problems: list[ImportProblem] = list(raw.problems)
        self.parsed: dict[str, list[_Parsed]] = {kind: [] for kind in KINDS}
        self.pending: list[_Check] = []

    def run(self) -> ImportPlan:
        for entry in self.raw.entries:
            if self.raw.source == "xlsx":
                self._spreadsheet_entry(entry)
            else:
                self._yaml_entry(entry)
        desired = self._unique()
        self._cross_check(desired)
        self.problems.sort(
            key=lambda p: (KINDS.index(p.sheet) if p.sheet in KINDS else -1, p.row or 0)
        )
        return ImportPlan(desired, self.problems)

    # -- one entry --------------------------------------------------------------------------

    def _spreadsheet_entry(self, raw: RawEntry) -> None:
        assert raw.cells is not None
        where = _Locator(raw.kind, spreadsheet=True)
        headers = self.raw.headers[raw.kind]
        entry_id = _text(raw.cells.get("id"))
        existing = self.ctx.current[raw.kind].get(entry_id or "")
        columns = COLUMNS[raw.kind]
        missing = [c for c in columns if c.header not in headers]
        data: dict[str, Any] = (
            copy.deepcopy(existing.data) if existing is not None and missing else {}
        )
        active = existing.active if existing is not None and "active" not in headers else True
        organization = existing.organization if existing is not None else None
        ok = True
        for column in columns:
            if column.header not in headers:
                continue
            value = raw.cells.get(column.header)
            if column.kind == "active":
                flag = _bool(value)
                if isinstance(flag, str):
                    self.problems.append(
                        ImportProblem(
                            raw.kind,
                            raw.row,
                            "active",
                            "bool_parsing",
                            "yes or no",
                            {"value": flag},
                        )
                    )
                    ok = False
                active = True if flag is None else bool(flag)
            elif column.kind == "organization":
                organization = _text(value)
            elif column.kind == "json":
                text = _text(value)
                if text is None:
                    _set(data, column.path, None)
                    continue
                try:
                    _set(data, column.path, json.loads(text))
                except json.JSONDecodeError:
                    self.problems.append(
                        _problem(raw, where, column.path, "bad_json", "not valid JSON")
                    )
                    ok = False
            else:
                _set(data, column.path, _cell(column, value))
        if not ok:
            return
        self._validate(raw, where, _prune(data), active, organization)

    def _yaml_entry(self, raw: RawEntry) -> None:
        assert raw.data is not None
        data = dict(raw.data)
        where = _Locator(raw.kind, spreadsheet=False)
        active = _bool(data.pop("active", True))
        if isinstance(active, str) or active is None:
            self.problems.append(_problem(raw, where, ("active",), "bool_parsing", "yes or no"))
            return
        consultation_flags: list[bool] = []
        if raw.kind == ORGANIZATIONS and isinstance(data.get("consultations"), list):
            cleaned = []
            for item in data["consultations"]:
                if isinstance(item, dict):
                    item = dict(item)
                    flag = _bool(item.pop("active", True))
                    consultation_flags.append(flag is not False)
                cleaned.append(item)
            data["consultations"] = cleaned
        parsed = self._validate(raw, where, data, bool(active), None)
        if parsed is None or raw.kind != ORGANIZATIONS:
            return
        org: schema.Organization = parsed.model
        for index, consultation in enumerate(org.consultations):
            nested = RawEntry(ORGANIZATIONS, raw.row)
            locator = _Locator(ORGANIZATIONS, spreadsheet=False, prefix=("consultations", index))
            flag = consultation_flags[index] if index < len(consultation_flags) else True
            self.parsed[CONSULTATIONS].append(_Parsed(nested, locator, consultation, flag, org.id))
            self.pending.append(
                _Check(nested, locator, dump(consultation), set(), org.id, consultation)
            )

    def _validate(
        self,
        raw: RawEntry,
        where: _Locator,
        data: dict[str, Any],
        active: bool,
        organization: str | None,
    ) -> _Parsed | None:
        if raw.kind in (MEASURES, ORGANIZATIONS) and "region" not in data:
            data["region"] = self.ctx.region
        try:
            model = SCHEMAS[raw.kind].model_validate(data)
        except ValidationError as error:
            self.problems.extend(_pydantic_problems(raw, where, error))
            # The fields that did parse are cross-checked too: every problem in one reply.
            failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
            self.pending.append(_Check(raw, where, data, failed, organization, None))
            return None
        parsed = _Parsed(raw, where, model, active, organization)
        self.parsed[raw.kind].append(parsed)
        self.pending.append(_Check(raw, where, dump(model), set(), organization, model))
        return parsed

    # -- the file as a whole ----------------------------------------------------------------

    def _unique(self) -> Entries:
        desired: Entries = {kind: {} for kind in self.raw.kinds}
        for kind in KINDS:
            if kind not in self.raw.kinds:
                continue
            first_row: dict[str, int] = {}
            for parsed in self.parsed[kind]:
                entry_id = parsed.model.id
                if entry_id in first_row:
                    self.problems.append(
                        _problem(
                            parsed.raw,
                            parsed.where,
                            ("id",),
                            "duplicate_id",
                            f"id {entry_id!r} also in row {first_row[entry_id]}",
                            value=entry_id,
                            row=first_row[entry_id],
                        )
                    )
                    continue
                first_row[entry_id] = parsed.raw.row
                data = dump(parsed.model)
                if kind == ORGANIZATIONS:
                    data.pop("consultations", None)
                desired[kind][entry_id] = Entry(
                    kind, entry_id, data, parsed.active, parsed.organization
                )
        return desired

    def _cross_check(self, desired: Entries) -> None:
        # Entries may point at an organisation of this file or one the region already has
        # (a row deleted from the sheet deactivates it; what points at it stays valid).
        org_ids = set(desired.get(ORGANIZATIONS, {})) | set(self.ctx.current[ORGANIZATIONS])
        for check in self.pending:
            kind = CONSULTATIONS if check.where.prefix else check.raw.kind
            self._common(check, kind)
            if kind == MEASURES:
                self._check_measure(check, org_ids)
            elif kind == ORGANIZATIONS:
                self._check_organization(check)
            else:
                self._check_consultation(check, org_ids)

    def _add(
        self, check: _Check, loc: tuple[str | int, ...], code: str, message: str, **params: object
    ) -> None:
        self.problems.append(_problem(check.raw, check.where, loc, code, message, **params))

    def _common(self, check: _Check, kind: str) -> None:
        entry_id = check.text("id")
        owner = self.ctx.foreign[kind].get(entry_id or "")
        if owner is not None:
            self._add(
                check,
                ("id",),
                "foreign_id",
                f"id belongs to {owner}",
                region=owner,
                value=entry_id,
            )
        region = check.text("region")
        if kind != CONSULTATIONS and region is not None and region != self.ctx.region:
            self._add(
                check,
                ("region",),
                "wrong_region",
                f"must be {self.ctx.region}",
                value=region,
                region=self.ctx.region,
            )
        for date_field in ("verified_on", "source_date", "checked_on"):
            day = check.date(date_field)
            if day is not None and day > self.ctx.today:
                self._add(
                    check, (date_field,), "future_date", "is in the future", value=day.isoformat()
                )

    def _check_needs(self, check: _Check, field: str) -> None:
        needs = check.texts(field) if field == "needs" else [check.text(field)]
        for need in needs:
            if need is not None and need not in self.ctx.need_ids:
                self._add(check, (field,), "unknown_need", f"unknown need {need!r}", value=need)

    def _check_measure(self, check: _Check, org_ids: set[str]) -> None:
        level, organization = check.text("level"), check.text("organization")
        if level == schema.Level.FEDERAL.value:
            self._add(
                check,
                ("level",),
                "federal_level",
                "federal measures are managed centrally",
                value=level,
            )
        if organization is not None and organization not in org_ids:
            self._add(
                check,
                ("organization",),
                "unknown_organization",
                f"unknown organization {organization!r}",
                value=organization,
            )
        if level == schema.Level.NGO.value and "organization" not in check.data:
            self._add(
                check,
                ("organization",),
                "ngo_needs_organization",
                "an NGO measure names its organization",
            )
        self._check_needs(check, "needs")
        m = check.model
        if not isinstance(m, schema.Measure):
            return
        if m.amount.as_of > self.ctx.today + dt.timedelta(days=366):
            self._add(
                check,
                ("amount", "as_of"),
                "far_date",
                "is more than a year ahead",
                value=m.amount.as_of.isoformat(),
            )
        for problem in schema.rule_problems(m.eligibility.rules):
            self._add(check, ("eligibility", "rules"), "age_range", problem)

    def _check_organization(self, check: _Check) -> None:
        entry_id = check.text("id")
        if entry_id is not None and len(entry_id) > MAX_ORG_ID:
            self._add(
                check,
                ("id",),
                "id_too_long",
                f"at most {MAX_ORG_ID} characters",
                value=str(MAX_ORG_ID),
            )
        self._check_needs(check, "needs")
        municipalities = check.texts("municipalities")
        if "all" in municipalities and municipalities != ["all"]:
            self._add(
                check,
                ("municipalities",),
                "all_mixed",
                "either 'all' or a list of municipalities",
            )
        elif municipalities != ["all"]:
            for mun in municipalities:
                if mun not in self.ctx.municipality_ids:
                    self._add(
                        check,
                        ("municipalities",),
                        "unknown_municipality",
                        f"unknown municipality {mun!r} in {self.ctx.region}",
                        value=mun,
                        region=self.ctx.region,
                    )

    def _check_consultation(self, check: _Check, org_ids: set[str]) -> None:
        self._check_needs(check, "need")
        organization = check.organization
        if organization is None:
            self._add(check, ("organization",), "missing", "Field required")
        elif organization not in org_ids:
            owner = self.ctx.foreign[ORGANIZATIONS].get(organization)
            if owner is not None:
                self._add(
                    check,
                    ("organization",),
                    "foreign_organization",
                    f"organization of {owner}",
                    value=organization,
                    region=owner,
                )
            else:
                self._add(
                    check,
                    ("organization",),
                    "unknown_organization",
                    f"unknown organization {organization!r}",
                    value=organization,
                )


@dataclass
class _Check:
    """One entry's fields for the cross-checks; fields the schema refused are skipped."""

    raw: RawEntry
    where: _Locator
    data: dict[str, Any]
    failed: set[str]
    organization: str | None
    model: Any

    def text(self, field: str) -> str | None:
        value = self.data.get(field)
        return value if field not in self.failed and isinstance(value, str) else None

    def texts(self, field: str) -> list[str]:
        value = self.data.get(field)
        if field in self.failed or not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, str)]

    def date(self, field: str) -> dt.date | None:
        text = self.text(field)
        if text is None:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None


def validate(raw: RawFile, ctx: ImportContext) -> ImportPlan:
    return _Validator(raw, ctx).run()


# --- applying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    problems: list[ImportProblem] = field(default_factory=list)
    summary: ApplySummary | None = None
    import_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.summary is not None


def region_today(view: CatalogueView, region_code: str, clock: Clock) -> dt.date:
    return clock.now().astimezone(ZoneInfo(view.regions[region_code].timezone)).date()


def _audit(
    session: AsyncSession, clock: Clock, user_id: int | None, action: str, details: dict[str, Any]
) -> None:
    session.add(
        models.AuditLog(at=clock.now(), actor_user_id=user_id, action=action, details=details)
    )


async def apply_import(
    session: AsyncSession,
    clock: Clock,
    *,
    raw: RawFile,
    region_code: str,
    view: CatalogueView,
    user_id: int | None,
) -> ImportResult:
    """Validate the whole file; apply it (one transaction) only if nothing is wrong.

    The caller refreshes the in-memory catalogue after a result with changes.
    """
    ctx = await import_context(
        session, region_code=region_code, view=view, today=region_today(view, region_code, clock)
    )
    plan = validate(raw, ctx)
    if plan.problems:
        return ImportResult(problems=plan.problems)
    summary = await apply_entries(session, region_code, plan.desired, ctx.current)
    if not summary.touched:
        await session.rollback()
        return ImportResult(summary=summary)
    after = await region_entries(session, region_code)
    record = CatalogueImport(
        region_code=region_code,
        user_id=user_id,
        created_at=clock.now(),
        kind="import",
        source=raw.source,
        summary=summary.as_json(),
        previous=snapshot_json(ctx.current),
        new=snapshot_json(after),
    )
    session.add(record)
    await session.flush()
    _audit(session, clock, user_id, "catalogue_import", {"region": region_code, "id": record.id})
    await new_help.announce_new_help(session, clock, view.measures)
    await session.commit()
    return ImportResult(summary=summary, import_id=record.id)


async def restorable_import(session: AsyncSession, region_code: str) -> CatalogueImport | None:
    """The newest import of the region that has not been undone yet."""
    found: CatalogueImport | None = await session.scalar(
        select(CatalogueImport)
        .where(
            CatalogueImport.region_code == region_code,
            CatalogueImport.kind == "import",
            CatalogueImport.restored_at.is_(None),
        )
        .order_by(CatalogueImport.id.desc())
        .limit(1)
    )
    return found


async def restore_import(
    session: AsyncSession, clock: Clock, *, import_id: int, region_code: str, user_id: int | None
) -> ApplySummary | None:
    """Write back the entries as they were before import `import_id`; None if it is not the
    newest restorable import of that region (a stale or forged button)."""
    latest = await restorable_import(session, region_code)
    if latest is None or latest.id != import_id:
        return None
    current = await region_entries(session, region_code)
    target = entries_from_json(latest.previous)
    summary = await apply_entries(session, region_code, target, current)
    after = await region_entries(session, region_code)
    now = clock.now()
    latest.restored_at = now
    session.add(
        CatalogueImport(
            region_code=region_code,
            user_id=user_id,
            created_at=now,
            kind="restore",
            source="restore",
            summary={**summary.as_json(), "restored_import": latest.id},
            previous=snapshot_json(current),
            new=snapshot_json(after),
        )
    )
    _audit(session, clock, user_id, "catalogue_restore", {"region": region_code, "id": latest.id})
    await session.commit()
    return summary


async def export_region(
    session: AsyncSession, region_code: str, help_lines: Sequence[str] = ()
) -> bytes:
    return export_workbook(await region_entries(session, region_code), help_lines)
