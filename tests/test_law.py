"""The law as tests: every row of tests/law/*.yaml (format: LAWCASES.md) through `match`.

A row is a family profile, an evaluation day and the verdict the law gives one measure, with
the clause it comes from. The row runs the way `python -m bot match --profile FILE --date D`
does: the profile is validated from JSON, then screened against the catalogue loaded into
the test database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import App
from bot.commands import match_verdicts
from core.screener import FamilyProfile, Verdict, has_rules, render_reason

LAW = Path(__file__).resolve().parent / "law"
DEFAULT_DATE = dt.date(2026, 12, 7)
ROW_KEYS = {"name", "profile", "verdict", "clause", "date"}
MIN_ROWS = 5


@dataclass(frozen=True)
class Row:
    file: str
    measure: str
    facts: str
    name: str
    date: dt.date
    profile: dict[str, Any]
    verdict: Verdict
    clause: str

    number: int

    @property
    def id(self) -> str:
        return f"{self.file}:{self.measure}:{self.number}"


def _rows() -> list[Row]:
    rows: list[Row] = []
    for path in sorted(LAW.glob("*.yaml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            for case in block.get("cases") or []:
                unknown = set(case) - ROW_KEYS
                assert not unknown, f"{path.name}: {case.get('name')}: unknown keys {unknown}"
                day = case.get("date", DEFAULT_DATE)
                rows.append(
                    Row(
                        file=path.stem,
                        measure=block["measure"],
                        facts=str(block.get("facts", "")),
                        name=case["name"],
                        date=day if isinstance(day, dt.date) else dt.date.fromisoformat(day),
                        profile=case["profile"],
                        verdict=Verdict(case["verdict"]),
                        clause=case["clause"],
                        number=len(rows) + 1,
                    )
                )
    return rows


ROWS = _rows()


def _json_round_trip(profile: dict[str, Any]) -> Any:
    """YAML dates become JSON strings, as in a profile file given to `match`."""
    return json.loads(json.dumps(profile, default=str, ensure_ascii=False))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_law_row(row: Row, app: App) -> None:
    profile = FamilyProfile.model_validate(_json_round_trip(row.profile))
    view = app.catalogue.view
    assert row.measure in view.measures, f"{row.id}: no measure {row.measure!r} in the catalogue"
    verdicts = {v.measure_id: v for v in match_verdicts(view, profile, row.date)}
    got = verdicts.get(row.measure)
    t = app.texts.get("ru")
    if got is None:
        pytest.fail(f"«{row.name}» ({row.clause}): the measure is not screened for this region")
    reasons = "; ".join(render_reason(reason, t) for reason in got.reasons)
    assert got.verdict is row.verdict, (
        f"«{row.name}» — {row.clause} [{row.facts}]: "
        f"expected {row.verdict.value}, got {got.verdict.value} ({reasons})"
    )


async def test_every_measure_with_conditions_has_its_table(app: App) -> None:
    counts: dict[str, int] = {}
    for row in ROWS:
        counts[row.measure] = counts.get(row.measure, 0) + 1
    thin = sorted(
        measure.id
        for measure in app.catalogue.view.measures.values()
        if has_rules(measure.eligibility.rules) and counts.get(measure.id, 0) < MIN_ROWS
    )
    assert not thin, f"measures with fewer than {MIN_ROWS} law rows: {thin}"


def test_rows_name_their_clause() -> None:
    assert ROWS, "no rows in tests/law"
    for row in ROWS:
        assert row.clause.strip() and row.name.strip(), row.id
    names = [f"{row.file}:{row.measure}:{row.name}" for row in ROWS]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"duplicate row names: {duplicates}"
