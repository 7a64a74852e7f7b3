"""The application object: settings, database, catalogue, texts, clock and jobs.

No aiogram here, so CLI commands that never talk to Telegram start without importing it;
the Telegram side is built by bot/factory.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.privacy import PrivacyNotice
from bot.scheduler import Jobs, SchedulerJobs
from bot.services.catalogue import CatalogueHolder
from bot.services.referrals import Context, NoTimers, Sla, Timers
from bot.sla import SlaTimers
from bot.texts import Texts
from db.engine import create_engine, create_session_factory


@dataclass
class App:
    """Everything a handler, a job or a CLI command may need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    catalogue: CatalogueHolder
    texts: Texts
    privacy: PrivacyNotice
    clock: Clock = field(default_factory=SystemClock)
    jobs: Jobs = field(default_factory=SchedulerJobs)
    timers: Timers = field(default_factory=NoTimers)
    # Set by the runner to wake the outbox worker right after a commit that queued messages.
    outbox_wake: Callable[[], None] = field(default=lambda: None)

    @property
    def sla(self) -> Sla:
        return Sla.hours(self.settings.sla_accept_hours, self.settings.sla_contact_hours)

    def referral_context(self) -> Context:
        return Context(self.clock, self.catalogue.view, self.sla, self.timers)

    async def close(self) -> None:
        await self.engine.dispose()


def build_app(settings: Settings, clock: Clock | None = None, jobs: Jobs | None = None) -> App:
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    app = App(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        catalogue=CatalogueHolder(session_factory),
        texts=Texts.load(settings.content_dir),
        privacy=PrivacyNotice.load(settings.content_dir),
        clock=clock or SystemClock(),
        jobs=jobs or SchedulerJobs(),
    )
    app.timers = SlaTimers(app)
    return app
