"""Pre-fill a bench database with a history of referrals, so the mix runs against a big DB.

Per referral: about four events, one offer (a tenth are declined and offered again), two
search-log rows and two processed update ids; one family per four referrals. Referrals are
spread over two years across the staffed organisations of the three pilot regions, so the open
ones (the last couple of weeks) weigh on routing as they would in production. Filling is
incremental: `fill(url, 100_000)` on a database holding 10 000 referrals adds 90 000.
Rows go in big batches: executemany in one transaction on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import make_url, text

from bench.bulk_write import Row, copy_postgres, insert_sqlite

BATCH = 50_000
SPAN = dt.timedelta(weeks=104)
REASONS = ("not_eligible", "no_capacity", "out_of_area", "missing_documents", "other")
WORDS = (
    "пособие",
    "выплата",
    "многодетным",
    "ипотека",
    "детский сад",
    "маткапитал",
    "путевка",
    "психолог",
    "юрист",
    "лекарства",
    "беременность",
    "питание",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "messenger_id",
        "language",
        "region_code",
        "municipality_id",
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
        "description",
        "created_at",
        "updated_at",
        "offered_at",
        "accepted_at",
        "first_contact_at",
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
    "referral_offers": (
        "id",
        "referral_id",
        "organization_id",
        "offered_at",
        "outcome",
        "outcome_at",
    ),
    "search_log": ("id", "at", "region_code", "kind", "query", "results", "user_id"),
    "processed_updates": ("update_id", "processed_at"),
}
ID_COLUMN = {table: "update_id" if table == "processed_updates" else "id" for table in COLUMNS}


class Catalogue:
    """The ids the synthetic rows draw from, per pilot region."""

    def __init__(self, regions: dict[str, dict[str, list[str]]]) -> None:
        self.regions = regions
        self.codes = sorted(regions)


async def read_catalogue(url: str) -> Catalogue:
    from bot.app import build_app
    from bot.config import Settings

    app = build_app(Settings(database_url=url))
    try:
        view = await app.catalogue.refresh()
        regions = {}
        for code, region in view.regions.items():
            orgs = [o for o in view.organizations_for_region(code) if o.demo and o.capacity > 0]
            regions[code] = {
                "orgs": [o.id for o in orgs],
                "needs": sorted({n for o in orgs for n in o.needs}),
                "municipalities": [m.id for m in region.municipalities],
            }
        return Catalogue(regions)
    finally:
        await app.close()


class Trail:
    """A referral's life so far; a step that would land after "now" does not happen."""

    def __init__(self, created: dt.datetime, now: dt.datetime) -> None:
        self.now = now
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
        if self.at + after >= self.now:
            return False
        self.at += after
        self.events.append(
            (self.at, action, self.status if self.events else None, to, org, reason)
        )
        self.status = to
        return True


class Generator:
    def __init__(self, catalogue: Catalogue, next_ids: dict[str, int], seed: int) -> None:
        self.catalogue = catalogue
        self.ids = dict(next_ids)
        self.rng = random.Random(seed)
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def take(self, table: str, count: int = 1) -> int:
        first = self.ids[table]
        self.ids[table] += count
        return first

    def rows(self, referrals: int) -> Iterator[tuple[str, Row]]:
        rng, now = self.rng, self.now
        n_users = max(1, referrals // 4)
        first_user = self.take("users", n_users)
        user_region: list[str] = []
        for uid in range(first_user, first_user + n_users):
            code = rng.choice(self.catalogue.codes)
            user_region.append(code)
            created = now - SPAN * rng.random()
            consent = "1" if rng.random() < 0.9 else None
            mun = rng.choice(self.catalogue.regions[code]["municipalities"])
            yield "users", (uid, 10**9 + uid, "ru", code, mun, consent, created, created, False)
        first_referral = self.take("referrals", referrals)
        for rid in range(first_referral, first_referral + referrals):
            index = rng.randrange(n_users)
            family, code = first_user + index, user_region[index]
            region = self.catalogue.regions[code]
            yield from self._referral(rid, family, code, region)
            for _ in range(2):
                yield "search_log", self._search(code, family)
            for _ in range(2):
                yield (
                    "processed_updates",
                    (
                        self.take("processed_updates"),
                        now - dt.timedelta(days=7) * rng.random(),
                    ),
                )

    def _search(self, code: str, family: int) -> Row:
        rng = self.rng
        user = family if rng.random() < 0.5 else None
        at = self.now - SPAN * rng.random()
        if rng.random() < 0.85:
            query = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
            return (
                self.take("search_log"),
                at,
                code,
                "search",
                query,
                rng.choice((0, 3, 8)),
                user,
            )
        return (self.take("search_log"), at, code, "screening", "", rng.choice((0, 2, 6)), user)

    def _referral(
        self, rid: int, family: int, code: str, region: dict[str, list[str]]
    ) -> Iterator[tuple[str, Row]]:
        rng = self.rng
        created = self.now - SPAN * rng.random() ** 1.3  # a little more of the recent past
        org = rng.choice(region["orgs"])
        trail = Trail(created, self.now)
        offers: list[tuple[str, dt.datetime, str | None, dt.datetime | None]] = []
        offered_at = accepted_at = contact_at = resolved_at = closed_at = None
        trail.step(dt.timedelta(0), "created", "new")
        trail.step(dt.timedelta(seconds=1), "offered", "offered", org)
        offered_at = trail.at
        if rng.random() < 0.1:
            wait = dt.timedelta(minutes=rng.randint(5, 600))
            if trail.step(wait, "declined", "offered", org, rng.choice(REASONS)):
                offers.append((org, offered_at, "declined", trail.at))
                org = rng.choice(region["orgs"])
                trail.step(dt.timedelta(seconds=1), "offered", "offered", org)
                offered_at = trail.at
        wait = dt.timedelta(minutes=min(rng.expovariate(1 / 240), 2000))
        outcome: str | None = None
        outcome_at: dt.datetime | None = None
        if trail.step(wait, "accepted", "accepted", org):
            accepted_at = outcome_at = trail.at
            outcome = "accepted"
            if trail.step(dt.timedelta(hours=rng.randint(1, 30)), "contacted", "in_progress", org):
                contact_at = trail.at
                later = dt.timedelta(hours=rng.randint(12, 240))
                helped = rng.random() < 0.8
                if trail.step(
                    later,
                    "resolved" if helped else "not_helped",
                    "resolved" if helped else "not_helped",
                    org,
                    None if helped else rng.choice(REASONS),
                ):
                    resolved_at = trail.at
                    if rng.random() < 0.6 and trail.step(
                        dt.timedelta(hours=rng.randint(1, 96)), "confirmed", "closed"
                    ):
                        closed_at = trail.at
        offers.append((org, offered_at, outcome, outcome_at))
        status = trail.status
        open_ = status in ("new", "offered", "accepted", "in_progress")
        due = None
        if status == "offered":
            due = offered_at + dt.timedelta(hours=24)
        elif status == "accepted":
            due = trail.at + dt.timedelta(hours=48)
        yield (
            "referrals",
            (
                rid,
                "request",
                code,
                rng.choice(region["municipalities"]),
                rng.choice(region["needs"]),
                family,
                status,
                org,
                "Нужна помощь" if open_ else None,
                created,
                trail.at,
                offered_at,
                accepted_at,
                contact_at,
                resolved_at,
                closed_at,
                due,
                0,
                len(trail.events),
            ),
        )
        first_event = self.take("referral_events", len(trail.events))
        for i, (when, action, before, to, event_org, reason) in enumerate(trail.events):
            yield (
                "referral_events",
                (first_event + i, rid, when, action, before, to, event_org, reason),
            )
        for offer_org, at, result, result_at in offers:
            yield (
                "referral_offers",
                (self.take("referral_offers"), rid, offer_org, at, result, result_at),
            )


class Writer:
    """Buffers rows per table; parents are flushed before children (foreign keys)."""

    ORDER = (
        "users",
        "referrals",
        "referral_events",
        "referral_offers",
        "search_log",
        "processed_updates",
    )

    def __init__(self) -> None:
        self.buffers: dict[str, list[Row]] = {table: [] for table in COLUMNS}
        self.written: dict[str, int] = dict.fromkeys(COLUMNS, 0)

    async def add(self, table: str, row: Row) -> None:
        buffer = self.buffers[table]
        buffer.append(row)
        if len(buffer) >= BATCH:
            await self.flush_all()

    async def flush_all(self) -> None:
        for table in self.ORDER:
            rows = self.buffers[table]
            if rows:
                await self.write(table, rows)
                self.written[table] += len(rows)
                self.buffers[table] = []

    async def write(self, table: str, rows: list[Row]) -> None:
        raise NotImplementedError


class SqliteWriter(Writer):
    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn = conn

    async def write(self, table: str, rows: list[Row]) -> None:
        await insert_sqlite(self.conn, table, COLUMNS[table], rows)


class CopyWriter(Writer):
    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn = conn

    async def write(self, table: str, rows: list[Row]) -> None:
        await copy_postgres(self.conn, table, COLUMNS[table], rows)


async def _state(url: str) -> tuple[int, dict[str, int]]:
    """How many referrals there are, and the next free id of every filled table."""
    from db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM referrals"))).scalar_one()
            next_ids = {}
            for table, column in ID_COLUMN.items():
                # Synthetic update ids stay below 10⁹, far from the ones the bench feeds.
                where = f" WHERE {column} < 1000000000" if table == "processed_updates" else ""
                top = (
                    await conn.execute(text(f"SELECT max({column}) FROM {table}{where}"))
                ).scalar()
                next_ids[table] = (top or 0) + 1
            return int(count), next_ids
    finally:
        await engine.dispose()


async def fill(url: str, target: int, seed: int = 2026) -> dict[str, Any]:
    """Add synthetic referrals (and their rows) until the database holds about `target`."""
    count, next_ids = await _state(url)
    missing = target - count
    if missing <= 0:
        return {"referrals": count, "added": 0, "seconds": 0.0, "rows": {}}
    catalogue = await read_catalogue(url)
    generator = Generator(catalogue, next_ids, seed + count)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        from db.engine import create_engine

        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                writer: Writer = SqliteWriter(conn)
                for table, row in generator.rows(missing):
                    await writer.add(table, row)
                await writer.flush_all()
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
            async with engine.connect() as conn:
                # Fold the WAL into the file now rather than during the measurement.
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            await engine.dispose()
    else:
        import asyncpg  # type: ignore[import-untyped]

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            writer = CopyWriter(conn)
            for table, row in generator.rows(missing):
                await writer.add(table, row)
            await writer.flush_all()
            for table in COLUMNS:
                if table != "processed_updates":
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
            await conn.execute("VACUUM ANALYZE")
            # Write the filled pages out now rather than in a checkpoint during the measurement.
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    return {
        "referrals": count + missing,
        "added": missing,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": writer.written,
    }
