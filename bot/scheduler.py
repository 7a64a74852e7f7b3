"""Background jobs behind a small interface: APScheduler in production, a recorder in tests.

Jobs take ids only and open their own DB session; job ids are deterministic, so scheduling
the same thing twice replaces it instead of doubling it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

JobFunc = Callable[..., Awaitable[Any]]


class Jobs(Protocol):
    def at(self, job_id: str, when: dt.datetime, func: JobFunc, *args: Any) -> None:
        """Run once at `when` (aware datetime)."""

    def every(self, job_id: str, seconds: float, func: JobFunc, *args: Any) -> None:
        """Run repeatedly."""

    def cron(self, job_id: str, func: JobFunc, *args: Any, timezone: str, **fields: Any) -> None:
        """Run on a calendar schedule in a timezone (e.g. day_of_week="mon", hour=9)."""

    def cancel(self, job_id: str) -> None: ...


class SchedulerJobs:
    """APScheduler 3 AsyncIOScheduler in UTC; a missed run fires late rather than never."""

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(
            timezone=dt.UTC,
            job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
        )

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def at(self, job_id: str, when: dt.datetime, func: JobFunc, *args: Any) -> None:
        self.scheduler.add_job(
            func, "date", run_date=when, args=args, id=job_id, replace_existing=True
        )

    def every(self, job_id: str, seconds: float, func: JobFunc, *args: Any) -> None:
        self.scheduler.add_job(
            func, "interval", seconds=seconds, args=args, id=job_id, replace_existing=True
        )

    def cron(self, job_id: str, func: JobFunc, *args: Any, timezone: str, **fields: Any) -> None:
        self.scheduler.add_job(
            func, "cron", args=args, id=job_id, replace_existing=True, timezone=timezone, **fields
        )

    def cancel(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)


@dataclass
class RecordedJob:
    func: JobFunc
    args: tuple[Any, ...]
    when: dt.datetime | None = None
    seconds: float | None = None
    cron: dict[str, Any] | None = None


@dataclass
class RecordingJobs:
    """Tests' scheduler: keeps what was scheduled; `run_due(now)` runs the one-off jobs due."""

    jobs: dict[str, RecordedJob] = field(default_factory=dict)

    def at(self, job_id: str, when: dt.datetime, func: JobFunc, *args: Any) -> None:
        self.jobs[job_id] = RecordedJob(func, args, when=when)

    def every(self, job_id: str, seconds: float, func: JobFunc, *args: Any) -> None:
        self.jobs[job_id] = RecordedJob(func, args, seconds=seconds)

    def cron(self, job_id: str, func: JobFunc, *args: Any, timezone: str, **fields: Any) -> None:
        self.jobs[job_id] = RecordedJob(func, args, cron={"timezone": timezone, **fields})

    def cancel(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    async def run_due(self, now: dt.datetime) -> int:
        due = sorted(
            ((job_id, job) for job_id, job in self.jobs.items() if job.when and job.when <= now),
            key=lambda item: item[1].when or now,
        )
        for job_id, job in due:
            self.jobs.pop(job_id, None)
            await job.func(*job.args)
        return len(due)

    async def run(self, job_id: str) -> None:
        job = self.jobs[job_id]
        await job.func(*job.args)
