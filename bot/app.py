"""Factories shared by `__main__`, the demo and the tests: no globals, nothing at import time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.middlewares.db_session import DbSessionMiddleware
from bot.middlewares.dedup import DedupMiddleware
from bot.middlewares.limits import AttachmentSizeMiddleware, PeopleOnlyMiddleware
from bot.middlewares.metrics import ErrorMetricsMiddleware, Metrics, MetricsMiddleware
from bot.middlewares.throttle import DEFAULT_RATE_LIMIT, RateLimit, ThrottleMiddleware
from bot.middlewares.viewer import ViewerMiddleware
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


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession()
        if settings.telegram_api_url:
            session.api = TelegramAPIServer.from_base(settings.telegram_api_url)
    token = settings.bot_token.get_secret_value() if settings.bot_token else "1:local-demo-token"
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_storage(settings: Settings) -> BaseStorage:
    """Redis keeps dialogs across restarts and shares them between replicas."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def create_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update at a time per person, so two quick messages cannot race each other.

    With Redis the lock is shared by every replica; in memory it covers this process.
    """
    create = getattr(storage, "create_isolation", None)
    if callable(create):
        isolation = create()
        assert isinstance(isolation, BaseEventIsolation)
        return isolation
    return SimpleEventIsolation()


def create_dispatcher(
    app: App,
    storage: BaseStorage | None = None,
    *,
    metrics: Metrics | None = None,
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
) -> Dispatcher:
    """The dispatcher with its middlewares; `dp["metrics"]` holds its Prometheus metrics.

    `rate_limit=None` turns the per-user limit off (load tests, scripted demos).
    """
    from handlers import get_routers

    storage = storage or create_storage(app.settings)
    metrics = metrics or Metrics()
    dp = Dispatcher(
        storage=storage,
        events_isolation=create_isolation(storage),
        app=app,
        settings=app.settings,
        clock=app.clock,
        texts=app.texts,
        catalogue=app.catalogue,
        privacy=app.privacy,
        jobs=app.jobs,
        metrics=metrics,
    )
    # Outer update middlewares run in this order, after aiogram's own (errors, user, FSM):
    # measure everything, drop floods before any database work, then dedup, session, viewer.
    dp.update.outer_middleware(MetricsMiddleware(metrics))
    if rate_limit is not None:
        dp.update.outer_middleware(ThrottleMiddleware(app.texts, rate_limit, metrics=metrics))
    dp.update.outer_middleware(DedupMiddleware(app.session_factory, app.clock))
    dp.update.outer_middleware(DbSessionMiddleware(app.session_factory))
    dp.update.outer_middleware(ViewerMiddleware(app.texts))
    dp.errors.outer_middleware(ErrorMetricsMiddleware(metrics))
    dp.message.outer_middleware(PeopleOnlyMiddleware())
    dp.message.outer_middleware(AttachmentSizeMiddleware(app.texts))
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.include_routers(*get_routers())
    return dp
