"""Telegram-side factories shared by `__main__`, the demo and the tests: nothing global."""

from __future__ import annotations

import datetime as dt

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.utils.callback_answer import CallbackAnswerMiddleware

from bot import patches
from bot.app import App
from bot.config import Settings
from bot.fsm_storage import ExpiringMemoryStorage
from bot.middlewares.db_session import DbSessionMiddleware
from bot.middlewares.dedup import DedupMiddleware
from bot.middlewares.limits import (
    AttachmentSizeMiddleware,
    CallbackNumbersMiddleware,
    PeopleOnlyMiddleware,
    PrivateChatsOnlyMiddleware,
)
from bot.middlewares.metrics import ErrorMetricsMiddleware, Metrics, MetricsMiddleware
from bot.middlewares.telegram_api import TelegramApiMiddleware
from bot.middlewares.throttle import DEFAULT_RATE_LIMIT, RateLimit, ThrottleMiddleware
from bot.middlewares.viewer import ViewerMiddleware
from bot.outbox_worker import Renderer
from core.clock import Clock


def create_bot(
    settings: Settings, session: BaseSession | None = None, *, metrics: Metrics | None = None
) -> Bot:
    """The Bot; its calls are retried on a short 429 and, given `metrics`, counted and timed."""
    if session is None:
        session = AiohttpSession()
        if settings.telegram_api_url:
            session.api = TelegramAPIServer.from_base(settings.telegram_api_url)
    if not any(isinstance(m, TelegramApiMiddleware) for m in session.middleware):
        session.middleware(TelegramApiMiddleware(metrics))  # once, if a session is reused
    token = settings.bot_token.get_secret_value() if settings.bot_token else "1:local-demo-token"
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_storage(
    settings: Settings, *, clock: Clock | None = None, prefix: str = "fsm"
) -> BaseStorage:
    """Redis keeps dialogs across restarts and shares them between replicas.

    Either way a dialog expires `DIALOG_TTL_HOURS` after its last step, so an abandoned
    request does not keep its description and phone. `prefix` starts every Redis key.

    A dialog belongs to one messenger: the key holds the bot's id (aiogram's `StorageKey` has
    it; Redis keys get it with `with_bot_id`), so a MAX user and a Telegram user with the same
    number never share a dialog. Every messenger's bot must therefore have its own id.
    """
    ttl = dt.timedelta(hours=settings.dialog_ttl_hours)
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(prefix=prefix, with_bot_id=True),
            state_ttl=ttl,
            data_ttl=ttl,
        )
    return ExpiringMemoryStorage(ttl, clock)


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


def create_renderer(app: App) -> Renderer:
    """How the outbox worker turns a stored notification into a Telegram message: the
    presentation's renderer, handed to the shell here so the runner imports no handlers."""
    from handlers.notifications import NotificationRenderer

    return NotificationRenderer(app.texts, app.catalogue)


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

    storage = storage or create_storage(app.settings, clock=app.clock)
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
        # No `jobs`: handlers schedule nothing (every job is in bot/jobs.py; SLA timers are
        # set by the core through `App.timers`).
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
    dp.message.outer_middleware(PrivateChatsOnlyMiddleware(app.texts))
    dp.message.outer_middleware(PeopleOnlyMiddleware())
    dp.message.outer_middleware(AttachmentSizeMiddleware(app.texts))
    dp.callback_query.outer_middleware(PrivateChatsOnlyMiddleware(app.texts))
    dp.callback_query.outer_middleware(CallbackNumbersMiddleware(app.texts))
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.include_routers(*get_routers())
    patches.tune_routing(dp)
    return dp
