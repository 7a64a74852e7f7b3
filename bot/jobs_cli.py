"""`python -m bot jobs list|run`: the scheduled jobs (bot/jobs.py), for operators and tests.

`jobs run NAME` runs the very function the scheduler calls, once, now. With `--date` the whole
run sees that day at 12:00 UTC (midday in every Russian region) on a stopped clock, so a
Monday's digest or a month's first verification can be run on another day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

from bot.app import build_app
from bot.bootstrap import prepare
from bot.config import Settings
from bot.jobs import JOBS, JobContext, job_named, run_job
from core.clock import Clock, FrozenClock

if TYPE_CHECKING:
    from aiogram import Bot

# Midday UTC is the same calendar day from Kaliningrad (UTC+2) to Kamchatka (UTC+12, 00:00).
AS_OF_HOUR_UTC = 12


def as_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(AS_OF_HOUR_UTC), tzinfo=dt.UTC)


async def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    width = max(len(job.name) for job in JOBS)
    for job in JOBS:
        telegram = " (talks to Telegram)" if job.needs_telegram else ""
        print(f"{job.name:<{width}}  {job.when}: {job.about}{telegram}")
    return 0


async def cmd_jobs_run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    bot: Bot | None = None,
    clock: Clock | None = None,
) -> int:
    """Run one job; `bot` and `clock` are for tests (a recording session, a moved clock)."""
    job = job_named(args.name)
    if job is None:
        known = ", ".join(j.name for j in JOBS)
        print(f"jobs run: unknown job {args.name!r}; known: {known}", file=sys.stderr)
        return 2
    if job.needs_telegram and bot is None and settings.bot_token is None:
        print(f"jobs run {job.name}: it sends through Telegram; set BOT_TOKEN", file=sys.stderr)
        return 2
    if args.date is not None:
        clock = FrozenClock(as_of(args.date))
    app = build_app(settings, clock=clock)
    own_bot = None
    try:
        await prepare(app)
        if job.needs_telegram and bot is None:
            from bot.factory import create_bot

            bot = own_bot = create_bot(settings)
        try:
            done = await run_job(JobContext(app, bot), job.name)
        except Exception as exc:
            print(f"jobs run {job.name}: failed: {type(exc).__name__}", file=sys.stderr)
            return 1
    finally:
        if own_bot is not None:
            await own_bot.session.close()
        await app.close()
    print(f"{job.name}: {done} done as of {app.clock.now():%Y-%m-%d %H:%M} UTC")
    return 0
