"""The daily reminder job in the shell: the core's day for the app, registered in bot/jobs.py
as `reminders` (the leader runs it each morning; `python -m bot jobs run reminders --date
YYYY-MM-DD` runs it for a chosen day)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from bot.app import App
from core.reminders.job import RunReport, local_day, run_day

if TYPE_CHECKING:
    from bot.jobs import JobContext

log = logging.getLogger(__name__)

JOB_ID = "reminders:daily"
# Early in the Moscow morning: the reminders it queues wait in the outbox for 10:00 local.
JOB_HOUR = 8


async def run_reminders(app: App, day: dt.date | None = None) -> RunReport:
    """Queue every reminder due on `day` (default: today in Moscow), each at most once."""
    chosen = day or local_day(app.clock.now())
    report = await run_day(app.session_factory, app.clock, app.catalogue.view, chosen)
    log.info("reminders for %s: %s queued for %s families", chosen, report.queued, report.families)
    return report


async def send_reminders(ctx: JobContext, now: dt.datetime) -> int:
    """The registry's body: the day `now` falls on in Moscow; the number queued."""
    return (await run_reminders(ctx.app, local_day(now))).queued
