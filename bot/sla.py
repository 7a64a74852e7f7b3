"""SLA timers: one APScheduler job per referral at its `sla_due_at`, rebuilt from the DB.

The deadline lives in the referrals table, so a restart loses nothing: `rebuild()` schedules
every pending one again, and `sweep()` (every few minutes, the `sla-sweep` job in bot/jobs.py)
catches anything a timer missed.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.scheduler import Jobs
from core import referrals
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.ports import Notifier

log = logging.getLogger(__name__)
SWEEP_SECONDS = 300


class SlaTimers:
    """The `Timers` port (core/ports.py) in production, built from the app's parts before the app.

    A check that moves a referral commits outbox rows; the session factory wakes the outbox
    worker on that commit (bot/outbox_wake.py).
    """

    def __init__(
        self,
        jobs: Jobs,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        catalogue: CatalogueHolder,
        sla: referrals.Sla,
        notifier: Notifier,
    ) -> None:
        self._jobs = jobs
        self._session_factory = session_factory
        self._clock = clock
        self._catalogue = catalogue
        self._sla = sla
        self._notifier = notifier

    def context(self) -> referrals.Context:
        return referrals.Context(
            self._clock, self._catalogue.view, self._sla, self, self._notifier
        )

    def set(self, referral_id: int, due_at: dt.datetime | None) -> None:
        job_id = f"sla:{referral_id}"
        if due_at is None:
            self._jobs.cancel(job_id)
        else:
            self._jobs.at(job_id, due_at, self.run, referral_id)

    async def run(self, referral_id: int) -> None:
        try:
            async with self._session_factory() as session:
                await referrals.sla_check(session, self.context(), referral_id)
        except Exception:
            # The deadline stays in the DB; the next sweep retries it.
            log.exception("SLA check of referral %s failed", referral_id)

    async def rebuild(self) -> int:
        async with self._session_factory() as session:
            pending = await referrals.pending_timers(session)
        for referral_id, due_at in pending:
            self.set(referral_id, due_at)
        return len(pending)

    async def sweep(self, now: dt.datetime | None = None) -> int:
        """Check every referral due by `now`: the `sla-sweep` job (bot/jobs.py) runs this."""
        async with self._session_factory() as session:
            due = await referrals.due_referrals(session, now or self._clock.now())
        for referral_id in due:
            await self.run(referral_id)
        return len(due)
