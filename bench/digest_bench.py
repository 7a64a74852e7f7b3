"""Digest build time and peak memory for a region with a million referrals, and smaller ones.

    python -m bench.digest_bench [--database URL] [--referrals 1000000] [--json]

Fills one region (RU-TAM) with N referrals and their events (about four and a half each),
0.3·N feedback answers and 2·N search-log rows spread over two years; a second region (RU-NIZ)
with 10 000 referrals spread the same way (so its weeks are a hundred times smaller); and a
third (RU-MOS) with the big region's weekly volume but only 20 days of history. Then it builds
the last completed week's digest of each, every measurement in a fresh process so that peak
RSS is the digest's own and not the bulk fill's. RU-TAM against RU-MOS shows what two years
of history cost; RU-TAM against RU-NIZ what a week's volume costs.

The database is wiped first: point it at a throw-away one (a PostgreSQL database name must
contain "bench"). Default: a SQLite file under ./data/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from bench.bulk_write import Row, copy_postgres, insert_sqlite

NOW = dt.datetime(2026, 11, 28, 9, 0)  # naive UTC: the bench's "now" (a Saturday)
SPAN = dt.timedelta(weeks=104)
BATCH = 20_000
DEFAULT_SQLITE = "sqlite+aiosqlite:///data/digest-bench.sqlite3"
BIG, SMALL, YOUNG = "RU-TAM", "RU-NIZ", "RU-MOS"
# The young region has the big one's weekly volume but only this many days of history (enough
# for the measured week and the one before it, whose numbers give the deltas).
YOUNG_DAYS = 20
REASONS = (
    "not_eligible",
    "no_capacity",
    "out_of_area",
    "missing_documents",
    "no_funds",
    "unreachable",
    "not_interested",
    "duplicate",
    "other",
)
WORDS = (
    "пособие",
    "выплата",
    "многодетным",
    "ипотека",
    "детский сад",
    "маткапитал",
    "путевка",
    "лагерь",
    "психолог",
    "юрист",
    "няня",
    "коляска",
    "лекарства",
    "жилье",
    "беременность",
    "школьная форма",
    "питание",
    "инвалидность",
    "опека",
    "кружок",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "messenger_id",
        "language",
        "region_code",
        "consent_version",
        "created_at",
        "last_seen_at",
        "unreachable",
    ),
    "referrals": (
        "id",
        "kind",
        "region_code",
        "municipality_id",
        "need_id",
        "family_user_id",
        "status",
        "organization_id",
        "created_at",
        "updated_at",
        "offered_at",
        "accepted_at",
        "resolved_at",
        "closed_at",
        "sla_due_at",
        "sla_stage",
        "version",
    ),
    "referral_events": (
        "id",
        "referral_id",
        "at",
        "action",
        "from_status",
        "to_status",
        "organization_id",
        "reason",
    ),
    "feedback": (
        "id",
        "kind",
        "region_code",
        "user_id",
        "referral_id",
        "measure_id",
        "need_id",
        "got_help",
        "rating",
        "verdict",
        "reason",
        "comment",
        "created_at",
    ),
    "search_log": ("id", "at", "region_code", "kind", "query", "results", "user_id"),
}


# --- synthetic data ------------------------------------------------------------------------


class Ids:
    def __init__(self) -> None:
        self.next: dict[str, int] = dict.fromkeys(COLUMNS, 1)

    def take(self, table: str, count: int = 1) -> int:
        first = self.next[table]
        self.next[table] += count
        return first


class Region:
    """What one region's synthetic rows draw from: its catalogue ids and its id ranges."""

    def __init__(
        self,
        code: str,
        catalogue: dict[str, list[str]],
        referrals: int,
        span: dt.timedelta = SPAN,
    ) -> None:
        self.code = code
        self.span = span
        self.orgs = catalogue["orgs"]
        self.needs = catalogue["needs"]
        self.municipalities = catalogue["municipalities"]
        self.measures = catalogue["measures"]
        self.referrals = referrals
        self.users = max(1, referrals // 4)
        self.feedback = referrals * 3 // 10
        self.searches = referrals * 2
        self.first_user = 0
        self.first_referral = 0


def _at(region: Region, rng: random.Random, i: int, count: int) -> dt.datetime:
    """The i-th of `count` moments spread evenly over the region's history (ending at NOW).

    Rows come in time order, as they do in a live database, so a week's rows sit together.
    """
    return NOW - region.span + region.span * ((i + rng.random()) / count)


def users(region: Region, ids: Ids, rng: random.Random) -> Iterator[Row]:
    region.first_user = ids.take("users", region.users)
    for i, uid in enumerate(range(region.first_user, region.first_user + region.users)):
        created = _at(region, rng, i, region.users)
        consent = "1" if rng.random() < 0.9 else None
        yield (uid, 10**9 + uid, "ru", region.code, consent, created, created, False)


class Trail:
    """A referral's events so far; a step that would land after "now" does not happen."""

    def __init__(self, created: dt.datetime) -> None:
        self.status = "new"
        self.at = created
        self.events: list[tuple[dt.datetime, str, str | None, str, str | None, str | None]] = []

    def step(
        self,
        after: dt.timedelta,
        action: str,
        to: str,
        org: str | None = None,
        reason: str | None = None,
    ) -> bool:
        if self.at + after >= NOW:
            return False
        self.at += after
        self.events.append((self.at, action, self.status, to, org, reason))
        self.status = to
        return True


def referrals(region: Region, ids: Ids, rng: random.Random) -> Iterator[tuple[str, Row]]:
    """Referrals with their event trails: a chain that stops at "now" leaves the referral open."""
    region.first_referral = ids.take("referrals", region.referrals)
    for i, rid in enumerate(
        range(region.first_referral, region.first_referral + region.referrals)
    ):
        created = _at(region, rng, i, region.referrals)
        org = rng.choice(region.orgs)
        trail = Trail(created)
        offered_at = accepted_at = resolved_at = closed_at = None
        trail.step(dt.timedelta(0), "created", "new")
        if rng.random() < 0.03:
            trail.step(dt.timedelta(minutes=1), "unrouted", "unrouted")
        elif trail.step(dt.timedelta(0), "offered", "offered", org):
            offered_at = trail.at
            if rng.random() < 0.1 and trail.step(
                dt.timedelta(minutes=rng.randint(5, 600)),
                "declined",
                "offered",
                org,
                rng.choice(REASONS),
            ):
                org = rng.choice(region.orgs)
                trail.step(dt.timedelta(0), "offered", "offered", org)
                offered_at = trail.at
            wait = dt.timedelta(minutes=min(rng.expovariate(1 / 240), 4000))
            if rng.random() < 0.9 and trail.step(wait, "accepted", "accepted", org):
                accepted_at = trail.at
                later = dt.timedelta(hours=rng.randint(2, 240))
                if rng.random() < 0.8:
                    if trail.step(later, "resolved", "resolved", org):
                        resolved_at = trail.at
                else:
                    trail.step(later, "not_helped", "not_helped", org, rng.choice(REASONS))
                confirm = dt.timedelta(hours=rng.randint(1, 120))
                if (
                    trail.status in ("resolved", "not_helped")
                    and rng.random() < 0.6
                    and trail.step(confirm, "confirmed", "closed", org)
                ):
                    closed_at = trail.at
            elif trail.status == "offered" and trail.step(
                dt.timedelta(hours=24), "sla_breach", "offered", org
            ):
                trail.step(dt.timedelta(0), "expired", "unrouted", org)
        status, events = trail.status, trail.events
        open_ = status in ("new", "offered", "accepted", "in_progress")
        yield (
            "referrals",
            (
                rid,
                "request",
                region.code,
                rng.choice(region.municipalities),
                rng.choice(region.needs),
                region.first_user + rng.randrange(region.users),
                status,
                org if status != "unrouted" else None,
                created,
                trail.at,
                offered_at,
                accepted_at,
                resolved_at,
                closed_at,
                trail.at + dt.timedelta(hours=24) if open_ else None,
                0,
                len(events),
            ),
        )
        first = ids.take("referral_events", len(events))
        for i, (when, action, before, to, event_org, reason) in enumerate(events):
            yield (
                "referral_events",
                (first + i, rid, when, action, before if i else None, to, event_org, reason),
            )


def feedback(region: Region, ids: Ids, rng: random.Random) -> Iterator[Row]:
    first = ids.take("feedback", region.feedback)
    for i, fid in enumerate(range(first, first + region.feedback)):
        at = _at(region, rng, i, region.feedback)
        # Answers are about referrals of the last weeks (ids follow creation time).
        recent = i * region.referrals // region.feedback - rng.randrange(
            region.referrals // 50 + 1
        )
        user = region.first_user + rng.randrange(region.users) if rng.random() < 0.8 else None
        kind = rng.random()
        if kind < 0.7:
            rating = rng.choices((1, 2, 3, 4, 5), (5, 5, 10, 30, 50))[0]
            yield (
                fid,
                "referral",
                region.code,
                user,
                region.first_referral + max(0, recent),
                None,
                None,
                rng.choices(("yes", "partly", "no"), (60, 25, 15))[0],
                rating,
                None,
                None,
                "долго ждали" if rating <= 2 and rng.random() < 0.5 else None,
                at,
            )
        elif kind < 0.95:
            verdict = rng.choices(("helpful", "not_helpful", "hard_to_apply"), (60, 25, 15))[0]
            yield (
                fid,
                "measure",
                region.code,
                user,
                None,
                rng.choice(region.measures),
                None,
                None,
                None,
                verdict,
                None,
                None,
                at,
            )
        else:
            yield (
                fid,
                "gap",
                region.code,
                user,
                None,
                None,
                rng.choice(region.needs),
                None,
                None,
                None,
                None,
                "никто не помог",
                at,
            )


def searches(region: Region, ids: Ids, rng: random.Random) -> Iterator[Row]:
    first = ids.take("search_log", region.searches)
    for i, sid in enumerate(range(first, first + region.searches)):
        at = _at(region, rng, i, region.searches)
        user = region.first_user + rng.randrange(region.users) if rng.random() < 0.5 else None
        if rng.random() < 0.85:
            query = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
            yield (
                sid,
                at,
                region.code,
                "search",
                query,
                rng.choice((0, 1, 3, 5, 8)),
                user,
            )
        else:
            yield (
                sid,
                at,
                region.code,
                "screening",
                "",
                rng.choice((0, 2, 4, 6)),
                user,
            )


# --- writers -------------------------------------------------------------------------------


class Writer:
    """Buffers rows per table and flushes them in big batches with the fastest bulk path."""

    def __init__(self) -> None:
        self.buffers: dict[str, list[Row]] = {table: [] for table in COLUMNS}
        self.written: dict[str, int] = dict.fromkeys(COLUMNS, 0)

    async def add(self, table: str, row: Row) -> None:
        buffer = self.buffers[table]
        buffer.append(row)
        if len(buffer) >= BATCH:
            if table == "referral_events":
                await self.flush("referrals")  # the events' foreign key
            await self.flush(table)

    async def flush(self, table: str) -> None:
        rows = self.buffers[table]
        if rows:
            await self.write(table, rows)
            self.written[table] += len(rows)
            self.buffers[table] = []

    async def close(self) -> None:
        for table in COLUMNS:
            await self.flush(table)

    async def write(self, table: str, rows: list[Row]) -> None:
        raise NotImplementedError


class SqliteWriter(Writer):
    """executemany through SQLAlchemy's connection, in one transaction."""

    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn = conn

    async def write(self, table: str, rows: list[Row]) -> None:
        await insert_sqlite(self.conn, table, COLUMNS[table], rows)


class CopyWriter(Writer):
    """PostgreSQL COPY through asyncpg."""

    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn = conn

    async def write(self, table: str, rows: list[Row]) -> None:
        await copy_postgres(self.conn, table, COLUMNS[table], rows)


# --- fill ----------------------------------------------------------------------------------


def _remove_sqlite(database: str | None) -> None:
    if database:
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)


async def prepare_database(url: str) -> dict[str, dict[str, list[str]]]:
    """Empty database at the latest migration with the catalogue loaded; returns ids to use."""
    from bot.app import build_app
    from bot.bootstrap import load_content
    from bot.config import Settings
    from core.clock import FrozenClock
    from db import migrate

    if url.startswith("sqlite"):
        _remove_sqlite(make_url(url).database)
    else:
        if "bench" not in (make_url(url).database or ""):
            raise SystemExit("refusing to wipe a PostgreSQL database whose name lacks 'bench'")
        from db.engine import create_engine

        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    app = build_app(
        Settings(database_url=url, content_dir=Path("content")),
        clock=FrozenClock(NOW.replace(tzinfo=dt.UTC)),
    )
    try:
        await migrate.upgrade(app.engine)
        await load_content(app, with_demo=True)  # benchmark data: the demo organisations route
        view = app.catalogue.view
        return {
            code: {
                "orgs": [o.id for o in view.organizations_for_region(code)],
                "needs": list(view.needs),
                "municipalities": [m.id for m in view.regions[code].municipalities],
                "measures": [m.id for m in view.measures_for_region(code)],
            }
            for code in (BIG, SMALL, YOUNG)
        }
    finally:
        await app.close()


def young_referrals(big: int) -> int:
    return round(big * dt.timedelta(days=YOUNG_DAYS) / SPAN)


async def fill(url: str, big: int, small: int, seed: int) -> dict[str, Any]:
    catalogue = await prepare_database(url)
    rng = random.Random(seed)
    ids = Ids()
    young_span = dt.timedelta(days=YOUNG_DAYS)
    regions = [
        Region(BIG, catalogue[BIG], big),
        Region(SMALL, catalogue[SMALL], small),
        Region(YOUNG, catalogue[YOUNG], young_referrals(big), young_span),
    ]
    started = time.perf_counter()
    if url.startswith("sqlite"):
        from db.engine import create_engine

        engine = create_engine(url)
        async with engine.begin() as conn:
            writer: Writer = SqliteWriter(conn)
            await _write_all(writer, regions, ids, rng)
            await conn.exec_driver_sql("ANALYZE")
        await engine.dispose()
    else:
        import asyncpg  # type: ignore[import-untyped]

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            writer = CopyWriter(conn)
            await _write_all(writer, regions, ids, rng)
            for table in COLUMNS:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    seconds = round(time.perf_counter() - started, 1)
    # Let the kernel write the fill out now, not while the digest is being timed.
    await asyncio.to_thread(os.sync)
    return {"seconds": seconds, "rows": writer.written}


async def _write_all(
    writer: Writer, regions: Sequence[Region], ids: Ids, rng: random.Random
) -> None:
    for region in regions:
        for row in users(region, ids, rng):
            await writer.add("users", row)
        await writer.flush("users")
        for table, row in referrals(region, ids, rng):
            await writer.add(table, row)
        await writer.flush("referrals")
        for row in feedback(region, ids, rng):
            await writer.add("feedback", row)
        for row in searches(region, ids, rng):
            await writer.add("search_log", row)
    await writer.close()


# --- measure (in a fresh process) ----------------------------------------------------------


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(url: str, region: str, repeat: int) -> dict[str, Any]:
    from bot.app import build_app
    from bot.config import Settings
    from core.clock import FrozenClock
    from core.digest import build_digest

    now = NOW.replace(tzinfo=dt.UTC)
    app = build_app(
        Settings(database_url=url, content_dir=Path("content")), clock=FrozenClock(now)
    )
    try:
        await app.catalogue.refresh()
        baseline = _rss_mb()
        times = []
        digest: dict[str, Any] = {}
        for _ in range(repeat + 1):  # the first run warms caches and connections
            async with app.session_factory() as session:
                started = time.perf_counter()
                digest = await build_digest(
                    session, region_code=region, week=None, view=app.catalogue.view, now=now
                )
                times.append(time.perf_counter() - started)
    finally:
        await app.close()
    return {
        "region": region,
        "week": digest["week"],
        "referrals_created": digest["supply"]["referrals_created"],
        "first_s": round(times[0], 3),
        "median_s": round(statistics.median(times[1:]), 3),
        "best_s": round(min(times[1:]), 3),
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(_rss_mb(), 1),
    }


def measure_in_subprocess(url: str, region: str, repeat: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.digest_bench",
            "--database",
            url,
            "--measure",
            region,
            "--repeat",
            str(repeat),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return round(a["median_s"] / b["median_s"], 2) if b["median_s"] else None


# --- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=DEFAULT_SQLITE, help="throw-away database URL")
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="referrals of the small region")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", action="store_true", help="measure the data already there")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--measure", metavar="REGION", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:
        print(json.dumps(asyncio.run(measure(args.database, args.measure, args.repeat))))
        return 0

    filled: dict[str, Any] | None = None
    if not args.reuse:
        filled = asyncio.run(fill(args.database, args.referrals, args.small, args.seed))
    results = [
        measure_in_subprocess(args.database, region, args.repeat) for region in (BIG, SMALL, YOUNG)
    ]
    big, small, young = results
    report: dict[str, Any] = {
        "database": make_url(args.database).get_backend_name(),
        "python": platform.python_version(),
        "referrals": {
            BIG: args.referrals,
            SMALL: args.small,
            YOUNG: young_referrals(args.referrals),
        },
        "fill": filled,
        "results": results,
        "ratio_big_to_small": _ratio(big, small),
        "ratio_big_to_young": _ratio(big, young),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if filled:
        rows = ", ".join(f"{table} {count:,}" for table, count in filled["rows"].items())
        print(f"filled in {filled['seconds']} s: {rows}")
    print(
        f"{'region':<8} {'referrals':>10} {'week':>9} {'created':>8} {'first s':>8} "
        f"{'median s':>9} {'best s':>7} {'RSS base MB':>12} {'RSS peak MB':>12}"
    )
    for row in results:
        print(
            f"{row['region']:<8} {report['referrals'][row['region']]:>10,} {row['week']:>9} "
            f"{row['referrals_created']:>8,} {row['first_s']:>8.3f} {row['median_s']:>9.3f} "
            f"{row['best_s']:>7.3f} "
            f"{row['rss_baseline_mb']:>12.1f} {row['rss_peak_mb']:>12.1f}"
        )
    print(
        f"{BIG}/{SMALL} time: {report['ratio_big_to_small']} "
        f"(weeks {args.referrals // max(args.small, 1)}x smaller); "
        f"{BIG}/{YOUNG} time: {report['ratio_big_to_young']} "
        f"(the same weekly volume, {YOUNG_DAYS} days of history instead of two years)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
