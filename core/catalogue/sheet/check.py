"""Validating a whole file before anything changes: the schema, then cross-checks.

Needs exist, municipalities belong to the region, ids are not another region's, ids are
unique; every problem comes back as "sheet, row, column: reason".
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.catalogue.edit import (
    CONSULTATIONS,
    KINDS,
    MEASURES,
    ORGANIZATIONS,
    Entries,
    Entry,
    dump,
    region_entries,
)
from core.catalogue.sheet.columns import COLUMNS, MAX_ORG_ID, SCHEMAS
from core.catalogue.sheet.parse import cell_bool, cell_for_schema, cell_text, prune_empty, set_path
from core.catalogue.sheet.read import ImportProblem, RawEntry, RawFile
from db import models


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
        entry_id = cell_text(raw.cells.get("id"))
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
                flag = cell_bool(value)
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
                organization = cell_text(value)
            elif column.kind == "json":
                text = cell_text(value)
                if text is None:
                    set_path(data, column.path, None)
                    continue
                try:
                    set_path(data, column.path, json.loads(text))
                except json.JSONDecodeError:
                    self.problems.append(
                        _problem(raw, where, column.path, "bad_json", "not valid JSON")
                    )
                    ok = False
            else:
                set_path(data, column.path, cell_for_schema(column, value))
        if not ok:
            return
        self._validate(raw, where, prune_empty(data), active, organization)

    def _yaml_entry(self, raw: RawEntry) -> None:
        assert raw.data is not None
        data = dict(raw.data)
        where = _Locator(raw.kind, spreadsheet=False)
        active = cell_bool(data.pop("active", True))
        if isinstance(active, str) or active is None:
            self.problems.append(_problem(raw, where, ("active",), "bool_parsing", "yes or no"))
            return
        consultation_flags: list[bool] = []
        if raw.kind == ORGANIZATIONS and isinstance(data.get("consultations"), list):
            cleaned = []
            for item in data["consultations"]:
                if isinstance(item, dict):
                    item = dict(item)
                    flag = cell_bool(item.pop("active", True))
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
