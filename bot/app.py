"""The application object: settings, database, catalogue, texts, clock and jobs.

No aiogram here, so CLI commands that never talk to Telegram start without importing it;
the Telegram side is built by bot/factory.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.outbox_wake import OutboxWake, ring_after_commit
from bot.privacy import PrivacyNotice
from bot.scheduler import Jobs, SchedulerJobs
from bot.sla import SlaTimers
from core.catalogue.active import CatalogueHolder
from core.clock import Clock, SystemClock
from core.outbox import OutboxNotifier
from core.ports import Notifier, Timers
from core.referrals.context import Context, Sla
from core.texts import Texts
from db.engine import create_engine, create_session_factory


@dataclass(frozen=True)
class App:
    """Everything a handler, a job or a CLI command may need, built once per process.

    Built in one pass by `build_app`: the parts that need other parts (the SLA timers, the
    outbox bell) get them at construction, and nothing is patched in afterwards.
    """

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    catalogue: CatalogueHolder
    texts: Texts
    privacy: PrivacyNotice
    clock: Clock
    jobs: Jobs
    timers: Timers
    # How the core tells a person something: outbox rows the worker sends.
    notifier: Notifier
    # Rung by `session_factory` after a commit that queued outbox rows; the worker waits on it.
    outbox_wake: OutboxWake

    @property
    def sla(self) -> Sla:
        return sla_of(self.settings)

    def referral_context(self) -> Context:
        return Context(self.clock, self.catalogue.view, self.sla, self.timers, self.notifier)

    async def close(self) -> None:
        await self.engine.dispose()


def sla_of(settings: Settings) -> Sla:
    return Sla.hours(settings.sla_accept_hours, settings.sla_contact_hours)


def build_app(settings: Settings, clock: Clock | None = None, jobs: Jobs | None = None) -> App:
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    outbox_wake = OutboxWake()
    ring_after_commit(session_factory, outbox_wake)
    catalogue = CatalogueHolder(session_factory)
    clock = clock or SystemClock()
    jobs = jobs or SchedulerJobs()
    notifier = OutboxNotifier(clock)
    return App(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        catalogue=catalogue,
        texts=Texts.load(settings.content_dir),
        privacy=PrivacyNotice.load(settings.content_dir),
        clock=clock,
        jobs=jobs,
        timers=SlaTimers(jobs, session_factory, clock, catalogue, sla_of(settings), notifier),
        notifier=notifier,
        outbox_wake=outbox_wake,
    )
