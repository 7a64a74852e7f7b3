"""Every scheduled job in one registry: its name, its schedule and what it does.

The elected leader schedules them all with `start_jobs` (bot/runner.py); an operator or a test
runs one at once with `python -m bot jobs run NAME` (`run_job`), through the same function the
scheduler calls. Adding a job is one `Job(...)` entry in `JOBS`.

Each `run` gets the running parts (`JobContext`: the app and, for the jobs that talk to
Telegram, the Bot) and the moment to act as of, and returns how many things it did. A body may
raise: the scheduler's wrapper logs it and the next run tries again; the CLI reports it.

The per-referral SLA timers are not in the registry: they are date jobs set by the referral
state machine through the `Timers` port (bot/sla.py); `start_jobs` rebuilds them from the DB.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.app import App
from bot.digest_delivery import DELIVERY_HOUR, deliver_due_digests
from bot.reminders_job import JOB_HOUR as REMINDERS_HOUR
from bot.reminders_job import JOB_ID as REMINDERS_JOB_ID
from bot.reminders_job import send_reminders
from bot.scheduler import SchedulerJobs
from bot.sla import SWEEP_SECONDS, SlaTimers
from core import manager_tools, retention

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

# All pilot regions share Moscow time; per-region schedules read the catalogue's timezones.
MOSCOW = "Europe/Moscow"


@dataclass(frozen=True)
class JobContext:
    """What a job body may use: the app, and the Bot for the jobs that talk to Telegram."""

    app: App
    telegram: Bot | None = None
    # The other running messengers' bots (MAX): jobs that reach people on their own messenger
    # (the weekly digest) use them all.
    others: tuple[Bot, ...] = ()

    @property
    def bot(self) -> Bot:
        if self.telegram is None:
            raise RuntimeError("this job talks to Telegram: give it a Bot (BOT_TOKEN)")
        return self.telegram

    @property
    def bots(self) -> list[Bot]:
        return [self.bot, *self.others]


# --- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Every:
    """Repeatedly, every `seconds`."""

    job_id: str
    seconds: float


@dataclass(frozen=True)
class Cron:
    """On a calendar in a timezone, e.g. `Cron("x", MOSCOW, {"day": 1, "hour": 11})`."""

    job_id: str
    timezone: str
    fields: Mapping[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Once:
    """One run at `when` (a catch-up at start: `when` is the moment of scheduling)."""

    job_id: str
    when: dt.datetime


Trigger = Every | Cron | Once


@dataclass(frozen=True)
class Job:
    """A registered job. `schedule` gives the scheduler ids and triggers (it may read the
    catalogue, e.g. one Monday trigger per region); `when` says the same for `jobs list`."""

    name: str
    about: str
    when: str
    schedule: Callable[[App], Sequence[Trigger]]
    run: Callable[[JobContext, dt.datetime], Awaitable[int]]
    needs_telegram: bool = False


# --- the bodies --------------------------------------------------------------------------------


async def sweep_sla(ctx: JobContext, now: dt.datetime) -> int:
    """Check every referral whose SLA deadline passed and whose timer did not fire."""
    timers = ctx.app.timers
    assert isinstance(timers, SlaTimers), "build_app gives every App its SLA timers"
    return await timers.sweep(now)


async def deliver_digests(ctx: JobContext, now: dt.datetime) -> int:
    """Monday's weekly digest to each region's managers, exactly once (bot/digest_delivery)."""
    return await deliver_due_digests(ctx.app, ctx.bots, now)


async def update_broadcasts(ctx: JobContext, now: dt.datetime) -> int:
    """Progress of the broadcasts being sent; the finished ones reported once."""
    from bot.broadcast_progress import update_broadcast_progress

    return await update_broadcast_progress(ctx.app, ctx.bot)


async def ask_monthly_verification(ctx: JobContext, now: dt.datetime) -> int:
    """ "Is your entry still accurate?" to coordinators, and the managers' reminder of measures
    to check; both go out through the outbox."""
    app = ctx.app
    async with app.session_factory() as session:
        queued = await manager_tools.queue_verification_questions(
            session, app.clock, app.catalogue.view
        )
        queued += await manager_tools.queue_measure_check_reminders(
            session, app.clock, app.catalogue.view
        )
    log.info("verification questions queued: %s", queued)
    return queued


async def purge_old_data(ctx: JobContext, now: dt.datetime) -> int:
    """Daily retention: free text of long-finished requests, old searches, technical rows."""
    settings = ctx.app.settings
    async with ctx.app.session_factory() as session:
        purged = await retention.purge(
            session,
            now,
            dt.timedelta(days=settings.retention_days),
            dt.timedelta(days=settings.search_retention_days),
        )
    log.info(
        "retention: %s requests, %s comments and %s searches cleared, %s technical rows deleted",
        purged.referrals,
        purged.comments,
        purged.searches,
        purged.technical,
    )
    return purged.referrals + purged.comments + purged.searches + purged.technical


# --- the registry ------------------------------------------------------------------------------

DIGEST_JOB_ID = "digest:deliver"
DIGEST_CATCH_UP_JOB_ID = "digest:catch-up"
BROADCAST_JOB_ID = "manager:broadcasts"
BROADCAST_CHECK_SECONDS = 10
VERIFY_JOB_ID = "manager:verify-monthly"
RETENTION_JOB_ID = "retention:daily"
RETENTION_HOUR = 3


def _digest_triggers(app: App) -> list[Trigger]:
    """Monday 09:00 in each region's timezone, an hourly safety net, and a catch-up now (a
    Monday missed while the bot was down)."""
    return [
        Every(DIGEST_JOB_ID, 3600),
        Once(DIGEST_CATCH_UP_JOB_ID, app.clock.now()),
        *(
            Cron(
                f"digest:monday:{code}",
                region.timezone,
                {"day_of_week": "mon", "hour": DELIVERY_HOUR, "minute": 0},
            )
            for code, region in app.catalogue.view.regions.items()
        ),
    ]


JOBS: tuple[Job, ...] = (
    Job(
        "sla-sweep",
        "SLA checks whose timer was missed (the timers themselves are set per request)",
        f"every {SWEEP_SECONDS} s",
        lambda app: [Every("sla:sweep", SWEEP_SECONDS)],
        sweep_sla,
    ),
    Job(
        "digests",
        "the weekly digest to each region's managers, exactly once",
        "Mondays 09:00 region time, hourly catch-up, and at start",
        _digest_triggers,
        deliver_digests,
        needs_telegram=True,
    ),
    Job(
        "broadcasts",
        "progress of the broadcasts being sent; finished ones reported",
        f"every {BROADCAST_CHECK_SECONDS} s",
        lambda app: [Every(BROADCAST_JOB_ID, BROADCAST_CHECK_SECONDS)],
        update_broadcasts,
        needs_telegram=True,
    ),
    Job(
        "verification",
        '"is your entry still accurate?" to coordinators; measures to check to managers',
        "the 1st of each month, 11:00 Moscow time",
        lambda app: [Cron(VERIFY_JOB_ID, MOSCOW, {"day": 1, "hour": 11, "minute": 0})],
        ask_monthly_verification,
    ),
    Job(
        "retention",
        "clear old free text and searches, delete old technical rows",
        f"daily, {RETENTION_HOUR:02}:00 Moscow time",
        lambda app: [Cron(RETENTION_JOB_ID, MOSCOW, {"hour": RETENTION_HOUR})],
        purge_old_data,
    ),
    Job(
        "reminders",
        "dated reminders to the families who opted in, each once, for their daytime",
        f"daily, {REMINDERS_HOUR:02}:00 Moscow time",
        lambda app: [Cron(REMINDERS_JOB_ID, MOSCOW, {"hour": REMINDERS_HOUR})],
        send_reminders,
    ),
)


def job_named(name: str) -> Job | None:
    return next((job for job in JOBS if job.name == name), None)


# --- running them ------------------------------------------------------------------------------


async def run_job(ctx: JobContext, name: str, now: dt.datetime | None = None) -> int:
    """Run one registered job once, as of `now` (default: the app's clock); errors propagate."""
    job = job_named(name)
    if job is None:
        raise KeyError(name)
    return await job.run(ctx, now or ctx.app.clock.now())


async def _scheduled(job: Job, ctx: JobContext) -> None:
    """What the scheduler calls: the body as of now; a failure is logged, the next run retries."""
    try:
        done = await job.run(ctx, ctx.app.clock.now())
    except Exception:
        log.exception("job %s failed", job.name)
        return
    if done:
        log.info("job %s: %s done", job.name, done)


def schedule_all(ctx: JobContext, jobs: Sequence[Job] = JOBS) -> None:
    """Put every registered job on the app's scheduler (ids are stable: rescheduling replaces)."""
    scheduler = ctx.app.jobs
    for job in jobs:
        for trigger in job.schedule(ctx.app):
            if isinstance(trigger, Every):
                scheduler.every(trigger.job_id, trigger.seconds, _scheduled, job, ctx)
            elif isinstance(trigger, Cron):
                scheduler.cron(
                    trigger.job_id,
                    _scheduled,
                    job,
                    ctx,
                    timezone=trigger.timezone,
                    **trigger.fields,
                )
            else:
                scheduler.at(trigger.job_id, trigger.when, _scheduled, job, ctx)


async def start_jobs(app: App, bot: Bot, others: Sequence[Bot] = ()) -> None:
    """Leadership won: rebuild the SLA timers from the DB, schedule every job, start."""
    timers = app.timers
    assert isinstance(timers, SlaTimers), "build_app gives every App its SLA timers"
    rebuilt = await timers.rebuild()
    schedule_all(JobContext(app, bot, tuple(others)))
    if isinstance(app.jobs, SchedulerJobs):
        app.jobs.start()
    log.info("scheduler started, %s SLA timers rebuilt", rebuilt)


async def stop_jobs(app: App) -> None:
    """Stop running scheduled jobs (leadership lost or shutting down); start_jobs resumes."""
    if not isinstance(app.jobs, SchedulerJobs) or not app.jobs.scheduler.running:
        return
    app.jobs.shutdown()
    # AsyncIOScheduler shuts down on the loop's next turn: wait, so that no job can start after
    # this returns (and after the lock is handed to another replica).
    for _ in range(100):
        if not app.jobs.scheduler.running:
            break
        await asyncio.sleep(0)
    log.info("scheduler stopped")
