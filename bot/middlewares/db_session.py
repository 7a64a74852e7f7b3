"""One DB session per update; handlers and services share it, services commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.search.discovery import DEFERRED_ROWS


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # The session takes a connection only when a query runs: an update answered from
        # memory (the catalogue, a cached user, dialog state) never touches the pool.
        async with self._session_factory() as session:
            deferred = data.get(DEFERRED_ROWS)
            if deferred is not None:
                session.info[DEFERRED_ROWS] = deferred
            data["session"] = session
            return await handler(event, data)
