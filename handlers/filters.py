"""Filters that hand a handler what it needs instead of a preamble in every handler.

aiogram merges a dict a filter returns into the handler's keyword arguments, so a handler
that declares `message`, `family`, `referral` or `access` receives it checked; when the
check fails the handler does not run and the update goes on to the next one (a refusal
registered after it, or the fallback's "this button is stale").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.middlewares.viewer import Viewer
from core import manager_tools
from db import models

# A button handler in an action → handler table: aiogram calls it with the event and the
# keyword arguments it declares.
ButtonHandler = Callable[..., Awaitable[None]]


class ShownMessage(Filter):
    """The message under the pressed button, as `message`.

    Telegram leaves it out (an `InaccessibleMessage`) when the message is older than 48 hours
    or was deleted; such a button cannot be edited or answered under, so the handler is
    skipped and the fallback tells the person the button is stale.
    """

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        message = query.message
        return {"message": message} if isinstance(message, Message) else False


class ConsentedFamily(Filter):
    """A person who agreed to the notice and named a region, as `family` (and its `region`)."""

    async def __call__(
        self, event: TelegramObject, viewer: Viewer | None = None
    ) -> bool | dict[str, Any]:
        user = viewer.user if viewer is not None else None
        if viewer is None or not viewer.consented or user is None or user.region_code is None:
            return False
        return {"family": user, "region": user.region_code}


class OwnReferral(Filter):
    """The referral the button's `number` names, as `referral`, if the presser is its family.

    A forged or forwarded button naming someone else's referral does not pass.
    """

    async def __call__(
        self,
        query: CallbackQuery,
        callback_data: CallbackData | None = None,
        viewer: Viewer | None = None,
        session: AsyncSession | None = None,
    ) -> bool | dict[str, Any]:
        number = getattr(callback_data, "number", None)
        if not isinstance(number, int) or viewer is None or viewer.user is None:
            return False
        if session is None:
            return False
        referral = await session.get(models.Referral, number)
        if referral is None or referral.family_user_id != viewer.user.id:
            return False
        return {"referral": referral}


class CallbackPrefixes(Filter):
    """A cheap first check for a router: the button is one of these callback data classes.

    It keeps the manager gate's DB read off the buttons of every other feature.
    """

    def __init__(self, *kinds: type[CallbackData]) -> None:
        self.prefixes = frozenset(kind.__prefix__ for kind in kinds)
        separators = {kind.__separator__ for kind in kinds}
        assert len(separators) == 1, "one separator for all the prefixes"
        self.separator = separators.pop()

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        return data is not None and data.split(self.separator, 1)[0] in self.prefixes


class IsManager(Filter):
    """Passes for region managers and admins; hands the handler their `access`.

    Registered once on a router (`router.message.filter(...)`), after a cheap check that the
    update is one of the toolkit's, so ordinary messages never pay for the DB read.
    """

    async def __call__(
        self,
        event: TelegramObject,
        viewer: Viewer | None = None,
        session: AsyncSession | None = None,
        settings: Settings | None = None,
    ) -> bool | dict[str, Any]:
        if viewer is None or session is None or settings is None:
            return False
        access = await manager_tools.manager_access(
            session, viewer.messenger_id, settings.admin_ids, viewer.channel
        )
        return {"access": access} if access.allowed else False


shown = ShownMessage()
consented_family = ConsentedFamily()
own_referral = OwnReferral()
