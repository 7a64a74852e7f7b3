"""MAX as a second messenger, presented to the one aiogram dispatcher as a `Bot`.

The Bot's session (`MaxSession`) speaks the MAX Bot API, and MAX updates are translated into
aiogram Updates, so every handler, middleware and the outbox serve MAX unchanged. A third
messenger would be another such adapter: a client, a session and an update translator.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.max.client import MaxClient
from bot.max.ids import MaxMessageIds
from bot.max.session import MaxSession, max_bot_token
from bot.middlewares.metrics import Metrics
from bot.middlewares.telegram_api import TelegramApiMiddleware
from core.clock import Clock


def create_max_bot(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    metrics: Metrics | None = None,
) -> Bot:
    """The MAX bot (MAX_BOT_TOKEN must be set): calls counted, timed and retried on a short
    429 by the same middleware as Telegram's."""
    if settings.max_bot_token is None:
        raise ValueError("MAX_BOT_TOKEN is not set")
    token = settings.max_bot_token.get_secret_value()
    session = MaxSession(
        MaxClient(token, settings.max_api_url), MaxMessageIds(session_factory, clock)
    )
    session.middleware(TelegramApiMiddleware(metrics))
    return Bot(
        max_bot_token(token),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
