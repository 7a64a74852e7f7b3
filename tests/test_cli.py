"""`python -m bot` as an operator runs it: real subprocesses, exit codes, stdout and stderr.

Every command gets its own SQLite file, also when TEST_DATABASE_URL is set: the CLI's DB layer
is the same code the other tests run on PostgreSQL. Each process spends seconds importing
aiogram, so the slow commands start together in a small pool when the module starts and each
test waits for its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

import db.models  # noqa: F401  (registers every table on Base.metadata)
from core.catalogue.files import read_catalogue
from db import migrate
from db.base import Base

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
CONTRACT_VARIABLES = {
    "BOT_TOKEN",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_API_URL",
    "WEBHOOK_BASE_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_HOST",
    "WEBHOOK_PORT",
    "ADMIN_IDS",
    "CONTENT_DIR",
    "SLA_ACCEPT_HOURS",
    "SLA_CONTACT_HOURS",
    "LOG_LEVEL",
    "TEST_DATABASE_URL",
}
# PRODUCT.md §4, the example family profile.
EXAMPLE_PROFILE = {
    "region": "RU-TAM",
    "children": [{"age_years": 0.5, "disabled": False}],
    "pregnant": True,
    "pregnancy_weeks": 14,
    "mother_age": 24,
    "student": False,
    "employed": True,
    "income_per_person": 14000,
    "single_parent": False,
    "citizen": True,
    "has_mortgage": False,
}
BAD_JSON = '{"region": "RU-TAM",}'
UNKNOWN_KEY = '{"region": "RU-TAM", "kids": 2}'
BROKEN_CONTENT = (  # (file, text that occurs once, replacement)
    (
        "measures/RU-TAM.yaml",
        "needs: [newborn, large_family]\n",
        "needs: [newborn, large_familyx]\n",
    ),
    ("organizations/RU-TAM.yaml", "[tam-tambov, tam-tambovsky,", "[tam-tambov, tam-tambovskyx,"),
)
# A production-style database has no demo organisations: invites go to a real one.
ORG = "tam-csp"
DEMO_ORG = "tam-opora-demo"
# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = (("DATABASE_URL", "postgresql+asyncpg://nav:secret@127.0.0.1:1/nav"),)
NEEDS_DATABASE = {
    "search": ("search", "маткапитал"),
    "db": ("db", "upgrade"),
    "content-load": ("content", "load"),
    "digest": ("digest", "--region", "RU-TAM"),
    "match": ("match", "--profile", "profile.json"),
    "grant": ("admin", "grant", "--telegram-id", "5", "--role", "admin"),
    "invite": ("admin", "invite", "--org", DEMO_ORG),
    "jobs-run": ("jobs", "run", "retention"),
}


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


@dataclass(frozen=True)
class Job:
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Workspace:
    """Files the commands read and write: a working directory, databases, inputs."""

    root: Path

    @property
    def cwd(self) -> Path:
        # Not the repository: a developer's .env there (it may hold a real BOT_TOKEN) must
        # not reach these processes. CONTENT_DIR stays unset: the default is the checkout's.
        path = self.root / "cwd"
        path.mkdir(exist_ok=True)
        return path

    def database(self, name: str) -> Path:
        return self.root / f"{name}.sqlite3"

    def file(self, name: str) -> Path:
        return self.root / name


def cli_env(database: Path, extra: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in CONTRACT_VARIABLES}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_cli(workspace: Workspace, name: str, job: Job) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *job.args],
        cwd=workspace.cwd,
        env=cli_env(workspace.database(name), job.env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def slow_jobs(workspace: Workspace) -> dict[str, Job]:
    """Commands that import the whole bot; each has a database of its own, named after it."""
    profile = workspace.file("profile.json")
    profile.write_text(json.dumps(EXAMPLE_PROFILE), encoding="utf-8")
    workspace.file("bad.json").write_text(BAD_JSON, encoding="utf-8")
    workspace.file("unknown-key.json").write_text(UNKNOWN_KEY, encoding="utf-8")
    broken = workspace.file("broken-content")
    shutil.copytree(CONTENT, broken)
    for file, old, new in BROKEN_CONTENT:
        path = broken / file
        original = path.read_text(encoding="utf-8")
        assert original.count(old) == 1
        path.write_text(original.replace(old, new), encoding="utf-8")
    return {
        "db-upgrade": Job(("db", "upgrade")),
        "content-check": Job(("content", "check")),
        "content-check-broken": Job(("content", "check", str(broken))),
        "run-without-token": Job(("run",)),
        "search": Job(("search", "маткапитал", "--json")),
        "match": Job(("match", "--profile", str(profile), "--date", "2026-12-07", "--json")),
        "match-bad-json": Job(("match", "--profile", str(workspace.file("bad.json")))),
        "match-unknown-key": Job(("match", "--profile", str(workspace.file("unknown-key.json")))),
        "grant": Job(
            ("admin", "grant", "--telegram-id", "5", "--role", "manager", "--region", "RU-TAM")
        ),
        "grant-unknown-region": Job(
            ("admin", "grant", "--telegram-id", "5", "--role", "manager", "--region", "RU-XXX")
        ),
        "invite": Job(("admin", "invite", "--org", ORG)),
        "invite-unknown-org": Job(("admin", "invite", "--org", "no-such-org")),
        "content-check-missing": Job(("content", "check", str(workspace.file("missing")))),
        "content-check-file": Job(("content", "check", str(CONTENT / "regions.yaml"))),
        "digest-text": Job(("digest", "--region", "RU-TAM", "--week", "2026-W47")),
        "digest-xlsx": Job(
            ("digest", "--region", "RU-TAM", "--week", "2026-W47", "--format", "xlsx")
        ),
        # `jobs list` reads no data: the unreachable database does not stop it.
        "jobs-list": Job(("jobs", "list"), UNREACHABLE),
        "jobs-run-retention": Job(("jobs", "run", "retention", "--date", "2026-12-07")),
        "jobs-run-unknown": Job(("jobs", "run", "reminderz")),
        "jobs-run-reminders": Job(("jobs", "run", "reminders", "--date", "2027-06-01")),
        **{
            f"{name}-unreachable": Job(
                tuple(str(profile) if a == "profile.json" else a for a in args), UNREACHABLE
            )
            for name, args in NEEDS_DATABASE.items()
        },
    }


@dataclass
class Launched:
    workspace: Workspace
    futures: dict[str, Future[Result]]

    def result(self, name: str) -> Result:
        return self.futures[name].result(timeout=300)

    def rows(self, name: str, sql: str) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(self.workspace.database(name))) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def launched(workspace: Workspace) -> Iterator[Launched]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {
            name: pool.submit(run_cli, workspace, name, job)
            for name, job in slow_jobs(workspace).items()
        }
        yield Launched(workspace, futures)


# --- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ((), ["run", "demo", "db", "content", "search", "match", "admin"]),
        (("run",), ["--webhook"]),
        (("demo",), ["--database"]),
        (("db",), ["upgrade"]),
        (("db", "upgrade"), ["usage: python -m bot db upgrade [-h]\n"]),
        (("content",), ["check", "load"]),
        (("content", "check"), ["dir", "content directory"]),
        (
            ("content", "load"),
            ["dir", "content directory", "--with-demo", "fictional demo entries"],
        ),
        (("search",), ["text", "--region", "--limit", "--json"]),
        (("match",), ["--profile", "--date", "--json", "--lang"]),
        (("admin",), ["grant", "invite"]),
        (("admin", "grant"), ["--telegram-id", "--role", "{manager,admin}", "--region"]),
        (("admin", "invite"), ["--org", "--role", "{volunteer,coordinator}"]),
        (("jobs",), ["list", "run"]),
        (("jobs", "run"), ["name", "--date", "YYYY-MM-DD"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_help(workspace: Workspace, command: tuple[str, ...], mentions: list[str]) -> None:
    result = run_cli(workspace, "help", Job((*command, "--help")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" ".join(("usage: python -m bot", *command)))
    for word in mentions:
        assert word in result.stdout, word
    assert result.stderr == ""


# --- settings and start-up -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (
            "SLA_ACCEPT_HOURS",
            "abc",
            "Bad setting SLA_ACCEPT_HOURS: "
            "Input should be a valid number, unable to parse string as a number",
        ),
        (
            "DATABASE_URL",
            "mysql://x",
            "Bad setting DATABASE_URL: "
            "Value error, must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
    ],
)
def test_a_bad_setting_is_one_line_on_stderr(
    workspace: Workspace, name: str, value: str, line: str
) -> None:
    result = run_cli(workspace, "bad-setting", Job(("db", "upgrade"), ((name, value),)))
    assert result.returncode == 2
    assert result.stderr_lines == [line]
    assert result.stdout == ""
    assert not workspace.database("bad-setting").exists()


def test_run_without_token_explains_how_to_get_one(launched: Launched) -> None:
    result = launched.result("run-without-token")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "BOT_TOKEN is not set" in result.stderr
    assert "@BotFather" in result.stderr
    assert "python -m bot demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_content_dir_is_one_line_naming_the_variable(workspace: Workspace) -> None:
    missing = workspace.file("no-content")
    result = run_cli(
        workspace, "bad-setting", Job(("search", "x"), (("CONTENT_DIR", str(missing)),))
    )
    assert result.returncode == 2
    assert result.stderr_lines == [
        f"Bad setting CONTENT_DIR: Value error, {missing} is not a content directory "
        "(no texts/ and privacy/ in it)"
    ]
    assert result.stdout == ""


# --- db and content ---------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema(launched: Launched) -> None:
    result = launched.result("db-upgrade")
    assert (result.returncode, result.stdout) == (0, "database is at the latest revision\n")
    tables = {
        name
        for (name,) in launched.rows(
            "db-upgrade", "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert launched.rows("db-upgrade", "SELECT version_num FROM alembic_version") == [
        (migrate.revisions()[-1],)
    ]
    assert launched.rows("db-upgrade", "SELECT count(*) FROM measures") == [(0,)]


def test_content_check_of_the_shipped_catalogue(launched: Launched) -> None:
    catalogue = read_catalogue(CONTENT)
    result = launched.result("content-check")
    assert result.returncode == 0, result.stdout
    assert result.stdout == (
        f"ok: {len(catalogue.regions)} regions, {len(catalogue.needs)} needs, "
        f"{len(catalogue.measures)} measures, {len(catalogue.organizations)} organizations\n"
    )
    assert result.stderr == ""


def test_content_check_of_a_broken_directory(launched: Launched) -> None:
    result = launched.result("content-check-broken")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "measures/RU-TAM.yaml: tam-birth-third-child-300k: needs: unknown need 'large_familyx'",
        "organizations/RU-TAM.yaml: tam-raduga-demo: municipalities: "
        "unknown municipality 'tam-tambovskyx' in RU-TAM",
    ]
    assert result.stderr_lines == ["2 problem(s)"]


# --- search and match -------------------------------------------------------------------------


def test_search_json(launched: Launched) -> None:
    result = launched.result("search")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    assert 1 <= len(results) <= 10
    for hit in results:
        assert set(hit) == {"id", "kind", "title", "score"}
        assert hit["kind"] in {"measure", "organization", "consultation"}
        assert isinstance(hit["score"], float)
    assert results[0] == {
        "id": "fed-matcap",
        "kind": "measure",
        "title": "Материнский (семейный) капитал",
        "score": results[0]["score"],
    }
    scores = [hit["score"] for hit in results]
    assert scores == sorted(scores, reverse=True)
    assert len({hit["id"] for hit in results}) == len(results)


def test_match_json_for_the_example_profile(launched: Launched) -> None:
    result = launched.result("match")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    by_id = {r["id"]: r for r in results}
    assert len(by_id) == len(results)
    for verdict in results:
        assert set(verdict) == {"id", "verdict", "reasons"}
        assert verdict["verdict"] in {"eligible", "maybe"}
        assert verdict["reasons"] and all(isinstance(r, str) and r for r in verdict["reasons"])
    assert by_id["fed-unified-allowance-pregnancy"] == {
        "id": "fed-unified-allowance-pregnancy",
        "verdict": "eligible",
        "reasons": [
            "вы ждёте ребёнка",
            "срок беременности 14 недель — нужно от 12 недель",
            "доход 14\u202f000\xa0₽ на человека — ниже порога 15\u202f719\xa0₽",
            "вы гражданин России",
        ],
    }
    # Not a student, no disabled child, and other regions' measures do not apply.
    assert "tam-pregnant-student-100k" not in by_id
    assert "fed-disabled-child-care-payment" not in by_id
    assert not [i for i in by_id if i.startswith(("mos-", "niz-"))]


@pytest.mark.parametrize(
    ("job", "file", "first_line"),
    [
        (
            "match-bad-json",
            "bad.json",
            "not JSON (Expecting property name enclosed in double quotes, line 1)",
        ),
        ("match-unknown-key", "unknown-key.json", "kids: Extra inputs are not permitted"),
    ],
)
def test_match_with_a_bad_profile(
    launched: Launched, job: str, file: str, first_line: str
) -> None:
    result = launched.result(job)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr_lines == [f"bad profile {launched.workspace.file(file)}: {first_line}"]


# --- admin ------------------------------------------------------------------------------------


def test_admin_grant_manager(launched: Launched) -> None:
    result = launched.result("grant")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "telegram id 5 is now manager of RU-TAM\n"
    assert launched.rows(
        "grant",
        "SELECT u.messenger_id, m.role, m.region_code, m.organization_id, m.active, m.paused "
        "FROM memberships m JOIN users u ON u.id = m.user_id",
    ) == [(5, "manager", "RU-TAM", None, 1, 0)]


def test_admin_grant_with_an_unknown_region(launched: Launched) -> None:
    result = launched.result("grant-unknown-region")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr_lines[-1] == "--region must be one of: RU-MOS, RU-NIZ, RU-TAM"
    assert launched.rows("grant-unknown-region", "SELECT count(*) FROM memberships") == [(0,)]
    assert launched.rows("grant-unknown-region", "SELECT count(*) FROM users") == [(0,)]


def test_admin_invite_prints_a_deep_link(launched: Launched) -> None:
    result = launched.result("invite")
    assert result.returncode == 0, result.stderr
    link = re.fullmatch(r"https://t\.me/YOUR_BOT\?start=join-([A-Za-z0-9_-]{24})\n", result.stdout)
    assert link is not None, result.stdout
    assert re.fullmatch(
        r"valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC, single use", result.stderr_lines[-1]
    )
    rows = launched.rows(
        "invite",
        "SELECT token, role, organization_id, region_code, used_at, created_at, expires_at "
        "FROM invites",
    )
    assert len(rows) == 1
    token, role, org, region, used_at, created_at, expires_at = rows[0]
    assert (token, role, org, region, used_at) == (link[1], "volunteer", ORG, "RU-TAM", None)
    assert isinstance(created_at, str) and isinstance(expires_at, str)
    lifetime = dt.datetime.fromisoformat(expires_at) - dt.datetime.fromisoformat(created_at)
    assert lifetime == dt.timedelta(days=7)


def test_admin_invite_for_an_unknown_organisation(launched: Launched) -> None:
    result = launched.result("invite-unknown-org")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr_lines[-1].startswith("unknown organization 'no-such-org'; known: ")
    assert ORG in result.stderr_lines[-1]
    assert DEMO_ORG not in result.stderr_lines[-1], "no demo organisation in production"
    assert launched.rows("invite-unknown-org", "SELECT count(*) FROM invites") == [(0,)]


def test_content_load_never_brings_demo_organisations_into_production(
    workspace: Workspace,
) -> None:
    """The acceptance check of issue 12: `content load`, then `search --json`, shows no demo
    organisation; only `content load --with-demo` (or the demo) brings them in, and a
    production load afterwards takes them out again."""
    query = ("search", "семейный центр помощь семьям", "--region", "RU-TAM", "--json")

    def demo_hits() -> list[str]:
        result = run_cli(workspace, "demo-load", Job(query))
        assert result.returncode == 0, result.stderr
        hits = json.loads(result.stdout)["results"]
        assert hits, "the search finds something"
        return [hit["id"] for hit in hits if hit["id"].endswith("-demo")]

    loaded = run_cli(workspace, "demo-load", Job(("content", "load")))
    assert loaded.returncode == 0, loaded.stderr
    assert demo_hits() == []
    with_demo = run_cli(workspace, "demo-load", Job(("content", "load", "--with-demo")))
    assert with_demo.returncode == 0, with_demo.stderr
    assert DEMO_ORG in demo_hits()
    again = run_cli(workspace, "demo-load", Job(("content", "load")))
    assert "organizations: +0 ~0 -14" in again.stdout, again.stdout
    assert demo_hits() == []
    active_demo = launched_rows(
        workspace, "demo-load", "SELECT count(*) FROM organizations WHERE demo AND active"
    )
    assert active_demo == [(0,)]


def launched_rows(workspace: Workspace, name: str, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(workspace.database(name))) as conn:
        return conn.execute(sql).fetchall()


# --- the first hour: an unreachable database, bad paths, files in their place ----------------


@pytest.mark.parametrize("name", sorted(NEEDS_DATABASE))
def test_an_unreachable_database_is_one_line_and_exit_2(launched: Launched, name: str) -> None:
    result = launched.result(f"{name}-unreachable")
    assert result.returncode == 2
    assert result.stderr_lines == [
        "cannot open the database postgresql+asyncpg://nav:***@127.0.0.1:1/nav (DATABASE_URL): "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    ]
    assert result.stdout == ""


def test_content_check_of_a_missing_directory_or_a_file(launched: Launched) -> None:
    missing = launched.result("content-check-missing")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr_lines == [
        f"content check: {launched.workspace.file('missing')}: no such directory"
    ]
    file = launched.result("content-check-file")
    assert (file.returncode, file.stdout) == (2, "")
    assert file.stderr_lines == [
        f"content check: {CONTENT / 'regions.yaml'} is a file: "
        "give the content directory (the one with regions.yaml)"
    ]


def test_digest_text_has_no_telegram_only_lines(launched: Launched) -> None:
    result = launched.result("digest-text")
    assert result.returncode == 0, result.stderr
    assert "2026-W47" in result.stdout and "Тамбовская область" in result.stdout
    assert "XLSX" not in result.stdout and "/digest" not in result.stdout


def test_digest_xlsx_without_out_goes_under_data(launched: Launched) -> None:
    result = launched.result("digest-xlsx")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "data/digest-RU-TAM-2026-W47.xlsx\n"
    written = launched.workspace.cwd / "data" / "digest-RU-TAM-2026-W47.xlsx"
    assert written.read_bytes().startswith(b"PK")  # a ZIP: the workbook


# --- the scheduled jobs --------------------------------------------------------------------


def test_jobs_list_needs_no_database(launched: Launched) -> None:
    result = launched.result("jobs-list")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [
        "sla-sweep",
        "digests",
        "broadcasts",
        "verification",
        "retention",
        "reminders",
    ]


def test_jobs_run_retention_as_of_a_day(launched: Launched) -> None:
    result = launched.result("jobs-run-retention")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "retention: 0 done as of 2026-12-07 12:00 UTC\n"
    assert launched.rows("jobs-run-retention", "SELECT count(*) FROM regions") != [(0,)], (
        "the database was migrated and the catalogue loaded first"
    )


def test_jobs_run_reminders_for_a_chosen_day(launched: Launched) -> None:
    result = launched.result("jobs-run-reminders")
    assert result.returncode == 0, result.stderr
    # A fresh database has no family that asked for reminders (tests/test_reminders.py runs it
    # for one that did).
    assert result.stdout == "reminders: 0 done as of 2027-06-01 12:00 UTC\n"


def test_jobs_run_an_unknown_job_names_the_known_ones(launched: Launched) -> None:
    result = launched.result("jobs-run-unknown")
    assert result.returncode == 2
    assert result.stderr_lines == [
        "jobs run: unknown job 'reminderz'; "
        "known: sla-sweep, digests, broadcasts, verification, retention, reminders"
    ]
    assert result.stdout == ""


def test_jobs_run_with_a_bad_date_is_a_usage_error(workspace: Workspace) -> None:
    result = run_cli(workspace, "help", Job(("jobs", "run", "retention", "--date", "7.12.2026")))
    assert result.returncode == 2
    assert "not a date YYYY-MM-DD: '7.12.2026'" in result.stderr
