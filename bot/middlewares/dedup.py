"""Each Telegram update is handled once: a redelivered update_id is skipped.

The id is recorded after the handlers finish, so a crash mid-way means the update is
processed again when Telegram redelivers it (at least once), never that it is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from db import models

log = logging.getLogger(__name__)


class DedupMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        async with self._session_factory() as session:
            if await session.get(models.ProcessedUpdate, event.update_id) is not None:
                log.info("update %s already processed, skipped", event.update_id)
                return None
        result = await handler(event, data)
        async with self._session_factory() as session:
            session.add(
                models.ProcessedUpdate(update_id=event.update_id, processed_at=self._clock.now())
            )
            try:
                await session.commit()
            except IntegrityError:
                # Another replica finished the same update first; nothing to undo.
                await session.rollback()
        return result
