"""Reading the catalogue directory: every problem is reported, none stops the check early."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.catalogue.schema import (
    FEDERAL_MEASURE_IDS,
    Level,
    Measure,
    MeasuresFile,
    Need,
    NeedsFile,
    Organization,
    OrganizationsFile,
    Region,
    RegionsFile,
    rule_problems,
)

FileModel = TypeVar("FileModel", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.field}: {self.message}"


@dataclass
class Catalogue:
    """A validated catalogue; `problems` is empty when it may be loaded."""

    regions: list[Region] = field(default_factory=list)
    needs: list[Need] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    organizations: list[Organization] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def without_demo(self) -> Catalogue:
        """The catalogue a production database gets: no entry marked `demo: true`."""
        return Catalogue(
            regions=self.regions,
            needs=self.needs,
            measures=[m for m in self.measures if not m.demo],
            organizations=[o for o in self.organizations if not o.demo],
            problems=self.problems,
        )


def _entry_id(data: Any, list_key: str, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (entry id, dotted field path)."""
    if len(loc) >= 2 and loc[0] == list_key and isinstance(loc[1], int):
        index = loc[1]
        entry = f"#{index + 1}"
        items = data.get(list_key) if isinstance(data, dict) else None
        if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
            entry = str(items[index].get("id") or items[index].get("code") or entry)
        path = ".".join(str(part) for part in loc[2:]) or "(entry)"
        return entry, path
    return "(file)", ".".join(str(part) for part in loc) or "(file)"


def _read(
    path: Path, root: Path, model: type[FileModel], list_key: str, problems: list[Problem]
) -> FileModel | None:
    name = path.relative_to(root).as_posix()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(Problem(name, "(file)", "(file)", f"cannot read: {exc.strerror}"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        reason = getattr(exc, "problem", None) or "invalid YAML"
        problems.append(Problem(name, where, "(yaml)", str(reason)))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            entry, path_str = _entry_id(data, list_key, tuple(error["loc"]))
            problems.append(Problem(name, entry, path_str, error["msg"]))
        return None


def read_catalogue(root: Path, today: dt.date | None = None) -> Catalogue:
    """Read and cross-check every YAML file under `root`."""
    cat = Catalogue()
    problems = cat.problems
    if not root.is_dir():
        problems.append(Problem(str(root), "(dir)", "(dir)", "content directory does not exist"))
        return cat

    regions_file = _read(root / "regions.yaml", root, RegionsFile, "regions", problems)
    needs_file = _read(root / "needs.yaml", root, NeedsFile, "needs", problems)
    if regions_file:
        cat.regions = regions_file.regions
    if needs_file:
        cat.needs = needs_file.needs

    measure_sources: list[tuple[str, Measure]] = []
    for path in sorted((root / "measures").glob("*.yaml")):
        parsed = _read(path, root, MeasuresFile, "measures", problems)
        if parsed:
            rel = path.relative_to(root).as_posix()
            measure_sources.extend((rel, m) for m in parsed.measures)
    org_sources: list[tuple[str, Organization]] = []
    for path in sorted((root / "organizations").glob("*.yaml")):
        parsed_orgs = _read(path, root, OrganizationsFile, "organizations", problems)
        if parsed_orgs:
            rel = path.relative_to(root).as_posix()
            org_sources.extend((rel, o) for o in parsed_orgs.organizations)
    cat.measures = [m for _, m in measure_sources]
    cat.organizations = [o for _, o in org_sources]

    problems.extend(
        _cross_check(
            cat,
            measure_sources,
            org_sources,
            today or dt.date.today(),
            root,
            regions_known=regions_file is not None,
            needs_known=needs_file is not None,
        )
    )
    return cat


def _duplicates(ids: Iterable[tuple[str, str]], what: str) -> Iterable[Problem]:
    seen: dict[str, str] = {}
    for file, entry_id in ids:
        if entry_id in seen:
            yield Problem(file, entry_id, "id", f"duplicate {what} id (also in {seen[entry_id]})")
        else:
            seen[entry_id] = file


def _cross_check(
    cat: Catalogue,
    measure_sources: list[tuple[str, Measure]],
    org_sources: list[tuple[str, Organization]],
    today: dt.date,
    root: Path,
    *,
    regions_known: bool = True,
    needs_known: bool = True,
) -> Iterable[Problem]:
    """References are checked only against files that parsed: one typo, one line."""
    regions = {r.code: r for r in cat.regions}
    need_ids = {n.id for n in cat.needs}
    org_ids = {o.id: o for o in cat.organizations}
    municipality_ids = {r.code: {m.id for m in r.municipalities} for r in cat.regions}

    yield from _duplicates((("regions.yaml", r.code) for r in cat.regions), "region")
    for r in cat.regions:
        if r.capital is not None and r.capital not in municipality_ids[r.code]:
            yield Problem("regions.yaml", r.code, "capital", f"unknown municipality {r.capital!r}")
    yield from _duplicates((("needs.yaml", n.id) for n in cat.needs), "need")
    yield from _duplicates(
        (("regions.yaml", m.id) for r in cat.regions for m in r.municipalities), "municipality"
    )
    yield from _duplicates(((f, m.id) for f, m in measure_sources), "measure")
    yield from _duplicates(((f, o.id) for f, o in org_sources), "organization")
    yield from _duplicates(
        ((f, c.id) for f, o in org_sources for c in o.consultations), "consultation"
    )

    if cat.measures or (root / "measures").is_dir():
        present = {m.id for m in cat.measures}
        for missing in FEDERAL_MEASURE_IDS:
            if missing not in present:
                yield Problem("measures/federal.yaml", missing, "id", "federal measure missing")

    for file, m in measure_sources:
        expected_file = "federal" if m.level is Level.FEDERAL else (m.region or "?")
        if Path(file).stem != expected_file:
            yield Problem(file, m.id, "level", f"belongs in measures/{expected_file}.yaml")
        if m.level is Level.FEDERAL and m.region is not None:
            yield Problem(file, m.id, "region", "a federal measure has no region")
        if regions_known and m.level is not Level.FEDERAL and m.region not in regions:
            yield Problem(file, m.id, "region", f"unknown region {m.region!r}")
        if m.level is Level.NGO and m.organization is None:
            yield Problem(file, m.id, "organization", "an NGO measure names its organization")
        if m.organization is not None and m.organization not in org_ids:
            yield Problem(file, m.id, "organization", f"unknown organization {m.organization!r}")
        elif m.organization is not None and org_ids[m.organization].demo and not m.demo:
            yield Problem(file, m.id, "organization", "a real measure names a demo organization")
        for need in m.needs if needs_known else ():
            if need not in need_ids:
                yield Problem(file, m.id, "needs", f"unknown need {need!r}")
        yield from _check_dates(file, m, today)
        for problem in rule_problems(m.eligibility.rules):
            yield Problem(file, m.id, "eligibility.rules", problem)

    for file, o in org_sources:
        if Path(file).stem != o.region:
            yield Problem(file, o.id, "region", f"belongs in organizations/{o.region}.yaml")
        if regions_known and o.region not in regions:
            yield Problem(file, o.id, "region", f"unknown region {o.region!r}")
        for need in (list(o.needs) + [c.need for c in o.consultations]) if needs_known else []:
            if need not in need_ids:
                yield Problem(file, o.id, "needs", f"unknown need {need!r}")
        known = municipality_ids.get(o.region, set())
        if regions_known and o.municipalities != ["all"]:
            for mun in o.municipalities:
                if mun not in known:
                    yield Problem(
                        file, o.id, "municipalities", f"unknown municipality {mun!r} in {o.region}"
                    )
        if o.verified_on > today:
            yield Problem(file, o.id, "verified_on", "is in the future")


def _check_dates(file: str, m: Measure, today: dt.date) -> Iterable[Problem]:
    if m.checked_on is not None and m.checked_on > today:
        yield Problem(file, m.id, "checked_on", "is in the future")
    if m.source_date is not None and m.source_date > today:
        yield Problem(file, m.id, "source_date", "is in the future")
    for i, source in enumerate(m.more_sources):
        if source.source_date is not None and source.source_date > today:
            yield Problem(file, m.id, f"more_sources.{i}.source_date", "is in the future")
    if m.amount.as_of > today + dt.timedelta(days=366):
        yield Problem(file, m.id, "amount.as_of", "is more than a year ahead")
