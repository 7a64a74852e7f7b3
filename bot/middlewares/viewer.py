"""Who is asking: the stored user (only with consent or a role) or an anonymous visitor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_of
from core import people
from core.texts import Texts, pick_language
from db import models
from db.enums import Channel

# FSM data keys for what an anonymous visitor chose: kept in the FSM storage, never in the DB.
ANON_REGION = "anon_region"
ANON_MUNICIPALITY = "anon_municipality"
ANON_LANGUAGE = "anon_language"


@dataclass
class Viewer:
    messenger_id: int
    lang: str
    user: models.User | None
    region_code: str | None
    municipality_id: str | None
    # The messenger they write from: `messenger_id` is their id there.
    channel: str = Channel.TELEGRAM

    @property
    def consented(self) -> bool:
        return self.user is not None and self.user.consent_version is not None

    def is_admin(self, admin_ids: Collection[int]) -> bool:
        """`ADMIN_IDS` are Telegram ids: the same number on another messenger is someone else."""
        return self.channel == Channel.TELEGRAM and self.messenger_id in admin_ids


class ViewerMiddleware(BaseMiddleware):
    """Most updates come from someone who wrote a moment ago: their row comes from
    `people.UserCache` (invalidated on every change), so "who is this" costs no query."""

    def __init__(self, texts: Texts, users: people.UserCache | None = None) -> None:
        self._texts = texts
        self._users = users if users is not None else people.UserCache()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        session: AsyncSession = data["session"]
        state: FSMContext | None = data.get("state")
        channel = channel_of(data["bot"])
        user = await self._users.get(session, tg_user.id, channel)
        if user is not None and user.unreachable:
            # They wrote to us, so the block is over: notifications may reach them again.
            user.unreachable = False
            await session.commit()
        if user is not None:
            viewer = Viewer(
                tg_user.id, user.language, user, user.region_code, user.municipality_id, channel
            )
        else:
            fsm = await state.get_data() if state is not None else {}
            viewer = Viewer(
                tg_user.id,
                fsm.get(ANON_LANGUAGE) or pick_language(tg_user.language_code),
                None,
                fsm.get(ANON_REGION),
                fsm.get(ANON_MUNICIPALITY),
                channel,
            )
        data["viewer"] = viewer
        data["t"] = self._texts.get(viewer.lang)
        return await handler(event, data)
