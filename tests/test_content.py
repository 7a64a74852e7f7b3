"""The catalogue in content/: complete, checked line by line, and loaded idempotently."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, build_app
from bot.bootstrap import load_content
from bot.config import Settings
from core.catalogue.files import Catalogue, read_catalogue
from core.catalogue.schema import FEDERAL_MEASURE_IDS, Level
from core.clock import FrozenClock
from core.texts import Texts
from db import migrate, models

CONTENT = Path(__file__).resolve().parent.parent / "content"
TODAY = dt.date(2026, 11, 28)

# PRODUCT.md §5, facts F01–F21: written out here so the test does not trust the code's copy.
PRODUCT_FEDERAL_IDS = [
    "fed-matcap",
    "fed-matcap-monthly",
    "fed-unified-allowance-children",
    "fed-unified-allowance-pregnancy",
    "fed-maternity-benefit",
    "fed-birth-grant",
    "fed-childcare-allowance",
    "fed-large-family-mortgage-450k",
    "fed-family-mortgage",
    "fed-child-tax-deduction",
    "fed-family-tax-payment",
    "fed-large-family-status",
    "fed-large-family-tax-relief",
    "fed-large-family-early-pension",
    "fed-disabled-child-care-payment",
    "fed-disabled-child-social-pension",
    "fed-disabled-child-extra-days-off",
    "fed-social-contract",
    "fed-parent-retraining",
    "fed-large-family-awards",
    "fed-free-legal-aid",
]
PILOT_REGIONS = {
    "RU-TAM": "Тамбовская область",
    "RU-MOS": "Московская область",
    "RU-NIZ": "Нижегородская область",
}

# Edits that break one thing each: (file, text that occurs once, replacement).
FIRST_TAM_MEASURE = "tam-birth-third-child-300k"
TAM_NEEDS_LINE = "    needs: [newborn, large_family]\n"
MISSING_TITLE_EN = (
    "measures/RU-TAM.yaml",
    "    title_en: 300,000 rubles at the birth of a third or later child\n",
    "",
)
UNKNOWN_NEED = ("measures/RU-TAM.yaml", TAM_NEEDS_LINE, "    needs: [newborn, large_famly]\n")
DUPLICATE_ID = (
    "measures/RU-TAM.yaml",
    "  - id: tam-pregnant-student-100k\n",
    f"  - id: {FIRST_TAM_MEASURE}\n",
)
UNKNOWN_MUNICIPALITY = (
    "organizations/RU-TAM.yaml",
    "    municipalities: [tam-tambov, tam-tambovsky,",
    "    municipalities: [tam-tambov, tam-nowhere,",
)
WRONG_TIMEZONE = (
    "regions.yaml",
    "    name_en: Tambov Oblast\n    timezone: Europe/Moscow\n",
    "    name_en: Tambov Oblast\n    timezone: Europe/Tambov\n",
)


def tab_after(file: str, anchor: str) -> tuple[tuple[str, str, str], str]:
    """An edit that puts a tab (illegal in YAML indentation) on the line after `anchor`."""
    original = (CONTENT / file).read_text(encoding="utf-8")
    line = original.count("\n", 0, original.index(anchor)) + 2
    problem = f"{file}: line {line}: (yaml): found character '\\t' that cannot start any token"
    return (file, anchor, anchor + "\t- id: x\n"), problem


BROKEN_NEEDS_FILE, BROKEN_NEEDS_PROBLEM = tab_after("needs.yaml", "needs:\n")
BROKEN_NIZ_MEASURES, BROKEN_NIZ_PROBLEM = tab_after("measures/RU-NIZ.yaml", "measures:\n")


def broken_copy(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    root = tmp_path / "content"
    if not root.exists():
        shutil.copytree(CONTENT, root)
    for file, old, new in edits:
        path = root / file
        original = path.read_text(encoding="utf-8")
        assert original.count(old) == 1, f"{old!r} must occur once in {file}"
        path.write_text(original.replace(old, new), encoding="utf-8")
    return root


def problem_lines(root: Path) -> list[str]:
    return [str(p) for p in read_catalogue(root, TODAY).problems]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return read_catalogue(CONTENT)


# --- the shipped catalogue ----------------------------------------------------------------


def test_shipped_catalogue_has_no_problems(catalogue: Catalogue) -> None:
    assert [str(p) for p in catalogue.problems] == []
    assert {r.code: r.name for r in catalogue.regions} == PILOT_REGIONS


def test_all_federal_measures_of_the_product_are_present(catalogue: Catalogue) -> None:
    assert len(set(PRODUCT_FEDERAL_IDS)) == 21
    federal = {m.id for m in catalogue.measures if m.level is Level.FEDERAL}
    assert sorted(set(PRODUCT_FEDERAL_IDS) - federal) == []
    assert set(FEDERAL_MEASURE_IDS) == set(PRODUCT_FEDERAL_IDS)


@pytest.mark.parametrize("region", sorted(PILOT_REGIONS))
def test_each_pilot_region_has_measures_and_organisations(
    catalogue: Catalogue, region: str
) -> None:
    regional = [
        m.id for m in catalogue.measures if m.region == region and m.level is Level.REGIONAL
    ]
    orgs = [o for o in catalogue.organizations if o.region == region]
    taking_referrals = [o.id for o in orgs if o.capacity > 0]
    assert len(regional) >= 6, regional
    assert len(orgs) >= 5, [o.id for o in orgs]
    assert len(taking_referrals) >= 3, taking_referrals


def test_demo_entries_are_marked_and_only_they(catalogue: Catalogue) -> None:
    for org in catalogue.organizations:
        looks_demo = "(демо)" in org.name or org.id.endswith("-demo")
        assert org.demo == looks_demo, org.id
        assert "(demo)" not in org.name, f"{org.id}: the Russian marker is «(демо)»"
        if org.demo:
            assert "(демо)" in org.name and "(demo)" in org.name_en, org.id
    for measure in catalogue.measures:
        looks_demo = "(демо)" in measure.title or measure.id.endswith("-demo")
        assert measure.demo == looks_demo, measure.id


def test_ui_texts_are_complete_in_russian_and_english() -> None:
    texts = Texts.load(CONTENT)
    assert texts.problems() == []
    assert set(texts.by_language) == {"ru", "en"}
    assert texts.by_language["ru"].keys() == texts.by_language["en"].keys()
    empty = [
        f"{lang}: {key}"
        for lang, entries in texts.by_language.items()
        for key, value in entries.items()
        if not value.strip()
    ]
    assert empty == []


def test_a_missing_english_text_is_reported(tmp_path: Path) -> None:
    root = broken_copy(
        tmp_path,
        (
            "texts/en/common.yaml",
            '  used: "This invitation has already been used. '
            'Ask your coordinator for a new link."\n',
            "",
        ),
    )
    assert Texts.load(root).problems() == ["texts/en: join.used: missing"]


# --- broken copies: one line per problem, naming file, entry and field ------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            MISSING_TITLE_EN,
            f"measures/RU-TAM.yaml: {FIRST_TAM_MEASURE}: title_en: Field required",
            id="missing-field",
        ),
        pytest.param(
            UNKNOWN_NEED,
            f"measures/RU-TAM.yaml: {FIRST_TAM_MEASURE}: needs: unknown need 'large_famly'",
            id="unknown-need",
        ),
        pytest.param(
            DUPLICATE_ID,
            f"measures/RU-TAM.yaml: {FIRST_TAM_MEASURE}: id: "
            "duplicate measure id (also in measures/RU-TAM.yaml)",
            id="duplicate-id",
        ),
        pytest.param(
            UNKNOWN_MUNICIPALITY,
            "organizations/RU-TAM.yaml: tam-raduga-demo: municipalities: "
            "unknown municipality 'tam-nowhere' in RU-TAM",
            id="unknown-municipality",
        ),
        pytest.param(
            WRONG_TIMEZONE,
            "regions.yaml: RU-TAM: timezone: Value error, unknown timezone 'Europe/Tambov'",
            id="wrong-timezone",
        ),
        pytest.param(
            BROKEN_NEEDS_FILE,
            BROKEN_NEEDS_PROBLEM,
            id="broken-needs-file",
        ),
    ],
)
def test_a_broken_entry_gives_exactly_one_problem_line(
    tmp_path: Path, edit: tuple[str, str, str], expected: str
) -> None:
    assert problem_lines(broken_copy(tmp_path, edit)) == [expected]


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    original = (CONTENT / "measures/RU-TAM.yaml").read_text(encoding="utf-8")
    # The unclosed list is noticed on the next line, where a new key starts.
    line = original.count("\n", 0, original.index(TAM_NEEDS_LINE)) + 2
    root = broken_copy(
        tmp_path, ("measures/RU-TAM.yaml", TAM_NEEDS_LINE, "    needs: [newborn, large_family\n")
    )
    assert problem_lines(root) == [
        f"measures/RU-TAM.yaml: line {line}: (yaml): expected ',' or ']', but got ':'"
    ]


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    root = broken_copy(
        tmp_path,
        MISSING_TITLE_EN,
        BROKEN_NIZ_MEASURES,
        UNKNOWN_MUNICIPALITY,
        (
            "organizations/RU-MOS.yaml",
            "  - id: mos-pravo-semyi-demo\n",
            "  - id: mos-vmeste-demo\n",
        ),
    )
    lines = problem_lines(root)
    assert sorted(lines) == sorted(
        [
            f"measures/RU-TAM.yaml: {FIRST_TAM_MEASURE}: title_en: Field required",
            BROKEN_NIZ_PROBLEM,
            "organizations/RU-TAM.yaml: tam-raduga-demo: municipalities: "
            "unknown municipality 'tam-nowhere' in RU-TAM",
            "organizations/RU-MOS.yaml: mos-vmeste-demo: id: "
            "duplicate organization id (also in organizations/RU-MOS.yaml)",
        ]
    )
    for line in lines:
        assert "\n" not in line
        assert len(line.split(": ", 3)) == 4, line


# --- loading into a database of its own -------------------------------------------------------


@pytest.fixture
async def own_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database nobody else touches: a SQLite file, or a throw-away PostgreSQL database."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite+aiosqlite:///{tmp_path / 'content.sqlite3'}"
        return
    url = make_url(base)
    name = f"navigator_content_{uuid.uuid4().hex[:12]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def own_app(own_database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[App]:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    app = build_app(Settings(database_url=own_database_url, content_dir=content), clock=clock)
    await migrate.upgrade(app.engine)
    yield app
    await app.close()


REMOVED = "tam-pregnant-student-100k"


def remove_measure(content: Path, measure_id: str) -> str:
    """Cut one entry out of measures/RU-TAM.yaml, leaving every other byte as it was."""
    path = content / "measures" / "RU-TAM.yaml"
    original = path.read_text(encoding="utf-8")
    start = original.index(f"  - id: {measure_id}\n")
    end = original.index("\n  - id: ", start) + 1
    path.write_text(original[:start] + original[end:], encoding="utf-8")
    return original


async def measure_row(app: App, measure_id: str) -> models.Measure | None:
    async with app.session_factory() as session:
        return await session.scalar(select(models.Measure).where(models.Measure.id == measure_id))


async def test_loading_twice_touches_nothing_the_second_time(own_app: App) -> None:
    catalogue = read_catalogue(own_app.settings.content_dir, TODAY).without_demo()
    first = await load_content(own_app)
    expected = {
        "regions": len(catalogue.regions),
        "municipalities": sum(len(r.municipalities) for r in catalogue.regions),
        "needs": len(catalogue.needs),
        "organizations": len(catalogue.organizations),
        "consultations": sum(len(o.consultations) for o in catalogue.organizations),
        "measures": len(catalogue.measures),
    }
    assert first.added == {kind: n for kind, n in expected.items() if n}
    assert first.changed == {} and first.deactivated == {}

    second = await load_content(own_app)
    assert second.touched is False
    assert second.summary() == "nothing changed"


async def test_a_removed_measure_is_deactivated_and_comes_back(own_app: App) -> None:
    content = own_app.settings.content_dir
    await load_content(own_app)

    original = remove_measure(content, REMOVED)
    removed = await load_content(own_app)
    assert removed.deactivated == {"measures": 1}
    assert removed.added == {}
    row = await measure_row(own_app, REMOVED)
    assert row is not None, "a removed measure is kept, not deleted"
    assert row.active is False
    assert REMOVED not in own_app.catalogue.view.measures

    (content / "measures" / "RU-TAM.yaml").write_text(original, encoding="utf-8")
    restored = await load_content(own_app)
    assert restored.deactivated == {} and restored.added == {}
    assert "measures" in restored.changed
    row = await measure_row(own_app, REMOVED)
    assert row is not None and row.active is True
    assert REMOVED in own_app.catalogue.view.measures


async def test_removing_one_measure_reports_only_that_measure(own_app: App) -> None:
    content = own_app.settings.content_dir
    await load_content(own_app)
    original = remove_measure(content, REMOVED)
    removed = await load_content(own_app)
    assert (removed.added, removed.changed, removed.deactivated) == ({}, {}, {"measures": 1})
    (content / "measures" / "RU-TAM.yaml").write_text(original, encoding="utf-8")
    restored = await load_content(own_app)
    assert (restored.added, restored.changed, restored.deactivated) == ({}, {"measures": 1}, {})
