"""The daily reminder job in the shell: runs the core's day for the app, on a schedule or on
demand (tests, and operators once the jobs command lands)."""

from __future__ import annotations

import datetime as dt
import logging

from bot.app import App
from core.reminders.job import RunReport, local_day, run_day

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


async def run_scheduled_reminders(app: App) -> None:
    """The scheduled run: a failure is logged, never raised into the scheduler."""
    try:
        await run_reminders(app)
    except Exception:
        log.exception("reminders run failed")


def schedule_reminders(app: App) -> None:
    app.jobs.cron(JOB_ID, run_scheduled_reminders, app, timezone="Europe/Moscow", hour=JOB_HOUR)
