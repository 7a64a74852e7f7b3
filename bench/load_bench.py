"""Load harness for the whole bot: the real dispatcher under a realistic mix of simulated people,
against the ceiling of a minimal echo bot on the same harness in the same run.

    python -m bench.load_bench [--database URL] [--users 200] [--seconds 20] [--think 1.0]
                               [--referrals 10000] [--grow] [--json]

Families onboard, search, open cards, run the /find screener, send requests, write to their
volunteer and close the loop; volunteers (members of the demo organisations) accept, write and
resolve. Each person is an asyncio task; updates are built as Telegram sends them and fed to
the dispatcher of `bot.factory.create_dispatcher` over an App from `build_app`, with a Bot
session that answers in-process (bench/load_harness.py). Two runs per database size:
"saturated" (no think time: the throughput, and latency that is mostly queueing) and "paced"
(each person waits an exponential think time, mean `--think` s: the latency a person sees).
Reported: updates/s and p50/p95/p99 from an update's arrival to the first Bot API request it
causes (overall and per flow), the echo bot's ceiling and the ratio, idle and peak memory,
start-up time. `--grow` pre-fills 10k, 100k and 1M referrals (with their events, offers,
families, search log and processed update ids; bench/load_fill.py) and reruns at each size.
The database is wiped first: a PostgreSQL database name must contain "bench" (it is created if
missing). The outbox worker does not run: requests leave their outbox rows, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from bench.load_harness import BenchSession, Feeder, Stats, run_for, summarise

DEFAULT_USERS = 200
GROW_SIZES = (10_000, 100_000, 1_000_000)
ECHO_TEXTS = ("маткапитал", "пособие на ребенка", "/start", "помогите с ипотекой")
# The replies that mean something went wrong (the error handler's apology).
ERROR_MARKERS = ("что-то пошло не так",)


# --- database set-up (each step in a fresh process, so this one's memory stays the bot's) ---


def _run_self(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_bench", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def ensure_postgres_database(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit("refusing to wipe a PostgreSQL database whose name lacks 'bench'")
    dsn = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _remove_sqlite(database: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)


async def setup_database(url: str) -> dict[str, Any]:
    """An empty database at the latest migration with the catalogue loaded."""
    from bot.app import build_app
    from bot.bootstrap import prepare
    from bot.config import Settings
    from db.engine import create_engine

    if url.startswith("sqlite"):
        _remove_sqlite(make_url(url).database or "")
    else:
        await ensure_postgres_database(url)
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    app = build_app(Settings(database_url=url))
    try:
        await prepare(app, with_demo=True)  # the simulated volunteers are demo staff
    finally:
        await app.close()
    return {"ok": True}


def probe_startup(url: str) -> dict[str, Any]:
    """Start-up in a fresh process (bench/load_probe.py), with the interpreter's own start."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("load_probe.py")), url],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - started, 3)
    return result


def time_process(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "BOT_TOKEN": ""},
    )
    return time.perf_counter() - started


# --- memory ------------------------------------------------------------------------------


def rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# --- the runs ----------------------------------------------------------------------------


class ErrorCounter(logging.Handler):
    """Counts the updates that ended in the error handler (and keeps the first traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = self.format(record)


class TapTimers:
    """The production SLA timers, plus a note on the current probe of which referral moved."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def set(self, referral_id: int, due_at: Any) -> None:
        from bench.load_harness import CURRENT

        self.inner.set(referral_id, due_at)
        probe = CURRENT.get()
        if probe is not None:
            probe.timers.append((referral_id, due_at))


def permissive_rate_limit() -> dict[str, Any]:
    """The per-user flood limit stays in the path (its cost counts) but never trips: the
    simulated people have no think time."""
    import inspect

    from bot.factory import create_dispatcher

    if "rate_limit" not in inspect.signature(create_dispatcher).parameters:
        return {}
    from bot.middlewares.throttle import RateLimit

    return {"rate_limit": RateLimit(burst=10**9, per_seconds=1.0)}


class Bench:
    def __init__(
        self,
        url: str,
        users: int,
        seconds: float,
        warmup: float,
        seed: int,
    ) -> None:
        self.url = url
        self.users = users
        self.seconds = seconds
        self.warmup = warmup
        self.rng = random.Random(seed)
        self.errors = ErrorCounter()
        logger = logging.getLogger("handlers.errors")
        logger.addHandler(self.errors)
        logger.propagate = False

    async def start(self) -> dict[str, Any]:
        from bot.app import build_app
        from bot.bootstrap import prepare
        from bot.config import Settings
        from bot.factory import create_bot, create_dispatcher
        from bot.scheduler import SchedulerJobs

        started = time.perf_counter()
        app = build_app(Settings(database_url=self.url), jobs=SchedulerJobs())
        self.app = dataclasses.replace(app, timers=TapTimers(app.timers))
        await prepare(self.app, with_demo=True)
        self.dp = create_dispatcher(self.app, **permissive_rate_limit())
        startup = time.perf_counter() - started
        assert isinstance(self.app.jobs, SchedulerJobs)
        self.app.jobs.start()
        self.session = BenchSession()
        self.session.watch = ERROR_MARKERS
        self.bot = create_bot(self.app.settings, session=self.session)
        self.feeder = Feeder(self.dp, self.bot, await self._first_update_id())
        self.volunteers = await self._seed_volunteers()
        return {"in_process_startup_s": round(startup, 3), "rss_idle_mb": round(rss_now_mb(), 1)}

    async def _first_update_id(self) -> int:
        async with self.app.session_factory() as db:
            top = await db.scalar(text("SELECT max(update_id) FROM processed_updates"))
        return max(10**10, (top or 0) + 1)

    async def _seed_volunteers(self) -> list[tuple[int, str]]:
        from bench.load_scripts import VOLUNTEER_IDS, staffed_organizations
        from core import people
        from db.enums import Role

        view = self.app.catalogue.view
        orgs = staffed_organizations(view)
        count = max(len(orgs), self.users // 10)
        seeded = []
        async with self.app.session_factory() as db:
            for i in range(count):
                org = orgs[i % len(orgs)]
                messenger_id = VOLUNTEER_IDS + i
                await people.grant_role(
                    db,
                    self.app.clock,
                    messenger_id=messenger_id,
                    role=Role.VOLUNTEER,
                    organization_id=org,
                    region_code=view.organizations[org].region,
                )
                seeded.append((messenger_id, org))
        return seeded

    async def realistic(self, think: float = 0.0) -> dict[str, Any]:
        from bench.load_scripts import (
            Family,
            Volunteer,
            World,
            load_queries,
            plan_regions,
        )

        view = self.app.catalogue.view
        queues: dict[str, asyncio.Queue[int]] = {
            org: asyncio.Queue() for _, org in self.volunteers
        }
        if not hasattr(self, "world_ids"):
            import itertools

            from bench.load_scripts import FAMILY_IDS

            self.world_ids = itertools.count(FAMILY_IDS)
        world = World(
            self.app,
            self.feeder,
            self.session,
            self.rng,
            load_queries(),
            plan_regions(view),
            queues,
            family_ids=self.world_ids,
        )
        families = max(1, self.users - len(self.volunteers))
        tasks = [asyncio.create_task(Family(world).run()) for _ in range(families)]
        tasks += [
            asyncio.create_task(Volunteer(world, messenger_id, queues[org]).run())
            for messenger_id, org in self.volunteers
        ]
        errors_before = self.errors.count
        apologies_before = self.session.texts[ERROR_MARKERS[0]]
        self.feeder.probes = []
        self.feeder.think = think
        window = await run_for(self.feeder, tasks, self.warmup, self.seconds)
        self.feeder.think = 0.0
        probes = self.feeder.probes
        stats = summarise(probes, window)
        return {
            "stats": stats,
            "think_s": think,
            "window_s": round(window, 2),
            "families": families,
            "volunteers": len(self.volunteers),
            "errors": self.errors.count - errors_before,
            "apologies": self.session.texts[ERROR_MARKERS[0]] - apologies_before,
            "first_error": self.errors.first,
            "events": dict(sorted(world.counters.items())),
            "callback_share": round(sum(p.callback for p in probes) / max(1, len(probes)), 3),
        }

    async def echo(self, callback_share: float) -> dict[str, Any]:
        from aiogram import Dispatcher, Router
        from aiogram.types import CallbackQuery, Message

        from bench.load_scripts import echo_person
        from bot.factory import create_bot

        async def echo_message(message: Message) -> None:
            await message.answer(message.text or "…")

        async def echo_callback(query: CallbackQuery) -> None:
            await query.answer()

        router = Router(name="echo")
        router.message.register(echo_message)
        router.callback_query.register(echo_callback)
        dp = Dispatcher()
        dp.include_router(router)
        session = BenchSession()
        bot = create_bot(self.app.settings, session=session)
        feeder = Feeder(dp, bot)
        tasks = [
            asyncio.create_task(
                echo_person(feeder, 9 * 10**9 + i, self.rng, callback_share, list(ECHO_TEXTS))
            )
            for i in range(self.users)
        ]
        window = await run_for(feeder, tasks, self.warmup, self.seconds)
        return {"stats": summarise(feeder.probes, window), "window_s": round(window, 2)}

    async def close(self) -> None:
        from bot.scheduler import SchedulerJobs

        if isinstance(self.app.jobs, SchedulerJobs):
            self.app.jobs.shutdown()
        await self.app.close()


def _flows(stats: list[Stats]) -> list[dict[str, Any]]:
    return [s.as_dict() for s in stats]


def _run_report(result: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in result.items() if k != "stats"}, "flows": _flows(result["stats"])}


async def measure(args: argparse.Namespace, url: str, sizes: list[int]) -> dict[str, Any]:
    bench = Bench(url, args.users, args.seconds, args.warmup, args.seed)
    report: dict[str, Any] = await bench.start()
    runs: list[dict[str, Any]] = []
    try:
        for i, size in enumerate(sizes):
            if i:  # the first size was filled before start-up
                fill = _run_self("--fill-to", str(size), "--database", url)
                report.setdefault("fills", []).append(fill)
            run: dict[str, Any] = {"referrals": size}
            print(f"{size:,} referrals: saturated mix …", file=sys.stderr, flush=True)
            run["saturated"] = await bench.realistic()
            if args.think > 0:
                print(f"{size:,} referrals: paced mix …", file=sys.stderr, flush=True)
                run["paced"] = await bench.realistic(args.think)
            runs.append(run)
        print("echo bot …", file=sys.stderr, flush=True)
        echo = await bench.echo(runs[0]["saturated"]["callback_share"])
    finally:
        await bench.close()
    realistic_all = runs[0]["saturated"]["stats"][0]
    echo_all = echo["stats"][0]
    report["runs"] = [
        {key: _run_report(value) if isinstance(value, dict) else value for key, value in r.items()}
        for r in runs
    ]
    report["echo"] = _run_report(echo)
    report["ratio_to_echo"] = round(realistic_all.per_second / echo_all.per_second, 3)
    report["rss_peak_mb"] = round(rss_peak_mb(), 1)
    return report


# --- report ------------------------------------------------------------------------------

HEADER = (
    f"  {'flow':<12}{'updates':>8}{'upd/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    f"{'wall p95':>10}"
)


def print_report(report: dict[str, Any]) -> None:
    print(
        f"Load bench · {report['database']} · {report['users']} simulated people · "
        f"{report['seconds']:g} s per run · Python {report['python']} · {report['cpus']} CPUs"
    )
    start = report["startup"]
    print(
        f"start-up, fresh process on a migrated DB: {start['total_s']:.2f} s = imports "
        f"{start['imports_s']:.2f} + build_app {start['build_app_s']:.2f} + prepare "
        f"{start['prepare_s']:.2f} + create_dispatcher {start['create_dispatcher_s']:.2f}; "
        f"`python -m bot --help` {report['python_m_bot_help_s']:.2f} s"
    )
    print(
        f"memory: idle {start['rss_mb']:.0f} MB after start-up (aiogram alone "
        f"{start['rss_aiogram_mb']:.0f} MB); bench process idle {report['rss_idle_mb']:.0f} MB, "
        f"peak {report['rss_peak_mb']:.0f} MB"
    )
    for run in report["runs"]:
        for phase in ("saturated", "paced"):
            result = run.get(phase)
            if result is None:
                continue
            how = (
                "no think time"
                if phase == "saturated"
                else f"think time {result['think_s']:g} s (exponential)"
            )
            print(
                f"\n{phase} mix, {run['referrals']:,} referrals in the DB, {how} "
                f"({result['families']} families, {result['volunteers']} volunteers; "
                f"errors {result['errors']})"
            )
            print(HEADER)
            for row in result["flows"]:
                print(_row(row))
    print("\necho bot (the ceiling), no think time:")
    print(HEADER)
    for row in report["echo"]["flows"]:
        print(_row(row))
    print(f"\nrealistic / echo throughput: {report['ratio_to_echo']:.1%}")
    if len(report["runs"]) > 1:
        _print_growth(report)


def _print_growth(report: dict[str, Any]) -> None:
    runs = report["runs"]
    phase = "paced" if "paced" in runs[0] else "saturated"
    base = runs[0][phase]["flows"][0]["p95_ms"]
    print(f"\ngrowth ({phase} p95 relative to the first size):")
    print(
        f"  {'referrals':>10}{'fill s':>9}{'sat. upd/s':>12}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'change':>9}"
    )
    fills = [report["initial_fill"], *report.get("fills", [])]
    for run, fill in zip(runs, fills, strict=False):
        row = run[phase]["flows"][0]
        rate = run["saturated"]["flows"][0]["updates_per_s"]
        print(
            f"  {run['referrals']:>10,}{fill['seconds']:>9.1f}{rate:>12.1f}"
            f"{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['p95_ms'] / base - 1:>+9.0%}"
        )


def _row(row: dict[str, Any]) -> str:
    return (
        f"  {row['flow']:<12}{row['updates']:>8}{row['updates_per_s']:>9.1f}{row['p50_ms']:>9.2f}"
        f"{row['p95_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['wall_p95_ms']:>10.2f}"
    )


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", help="throw-away database URL (default: a temp SQLite file)")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--referrals", type=int, default=10_000, help="pre-filled referrals")
    parser.add_argument("--grow", action="store_true", help="rerun at 10k, 100k and 1M referrals")
    parser.add_argument("--sizes", help="comma-separated sizes for --grow")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean think time of the paced run (0: saturated run only)",
    )
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fill-to", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    temp_dir = None
    url = args.database
    if url is None:
        temp_dir = tempfile.mkdtemp(prefix="load-bench-")
        url = f"sqlite+aiosqlite:///{temp_dir}/bench.sqlite3"
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]

    if args.setup:
        print(json.dumps(asyncio.run(setup_database(url))))
        return 0
    if args.fill_to is not None:
        from bench.load_fill import fill

        print(json.dumps(asyncio.run(fill(url, args.fill_to))))
        return 0

    sizes = [args.referrals]
    if args.grow:
        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(GROW_SIZES)
    log = sys.stderr
    print(f"setting up {make_url(url).get_backend_name()} …", file=log, flush=True)
    _run_self("--setup", "--database", url)
    initial_fill = _run_self("--fill-to", str(sizes[0]), "--database", url)
    print(f"filled {sizes[0]:,} referrals in {initial_fill['seconds']} s", file=log, flush=True)
    startups = [probe_startup(url) for _ in range(3)]
    startup = sorted(startups, key=lambda s: s["total_s"])[1]
    help_s = sorted(time_process("-m", "bot", "--help") for _ in range(3))[1]
    report: dict[str, Any] = {
        "database": make_url(url).get_backend_name(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "users": args.users,
        "seconds": args.seconds,
        "startup": startup,
        "python_m_bot_help_s": round(help_s, 3),
        "initial_fill": initial_fill,
    }
    report.update(asyncio.run(measure(args, url, sizes)))
    if temp_dir is not None:
        for path in Path(temp_dir).iterdir():
            path.unlink()
        Path(temp_dir).rmdir()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
