"""SLA timers: one APScheduler job per referral at its `sla_due_at`, rebuilt from the DB.

The deadline lives in the referrals table, so a restart loses nothing: `rebuild()` schedules
every pending one again, and `sweep()` (every few minutes) catches anything a timer missed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from bot.services import referrals

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
SWEEP_SECONDS = 300


class SlaTimers:
    def __init__(self, app: App) -> None:
        self._app = app

    def set(self, referral_id: int, due_at: dt.datetime | None) -> None:
        job_id = f"sla:{referral_id}"
        if due_at is None:
            self._app.jobs.cancel(job_id)
        else:
            self._app.jobs.at(job_id, due_at, self.run, referral_id)

    async def run(self, referral_id: int) -> None:
        try:
            async with self._app.session_factory() as session:
                await referrals.sla_check(session, self._app.referral_context(), referral_id)
        except Exception:
            # The deadline stays in the DB; the next sweep retries it.
            log.exception("SLA check of referral %s failed", referral_id)
            return
        self._app.outbox_wake()

    async def rebuild(self) -> int:
        async with self._app.session_factory() as session:
            pending = await referrals.pending_timers(session)
        for referral_id, due_at in pending:
            self.set(referral_id, due_at)
        return len(pending)

    async def sweep(self) -> int:
        async with self._app.session_factory() as session:
            due = await referrals.due_referrals(session, self._app.clock.now())
        for referral_id in due:
            await self.run(referral_id)
        return len(due)

    def start(self) -> None:
        self._app.jobs.every("sla:sweep", SWEEP_SECONDS, self.sweep)
