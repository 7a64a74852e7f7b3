"""Leaving a dialog without forgetting what an anonymous visitor chose.

A command that starts something new leaves the dialog in progress first. Rather than a first
line in each such handler, it is registered with `flags=LEAVES_DIALOG`, and its router (or a
parent) carries `LeaveDialogFirst` (`leaving_dialogs(router)`), which leaves the dialog once the
handler's filters have passed and just before it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject

from bot.middlewares.viewer import ANON_LANGUAGE, ANON_MUNICIPALITY, ANON_REGION

# The screener answers of this conversation: cards keep showing a personal verdict after
# the dialog ends, even for a person who did not consent to saving them.
SESSION_PROFILE = "screener_profile"
# The region a manager of several regions chose for /digest, /stats and /orgs.
MANAGER_REGION = "manager_region"
_KEPT = (ANON_REGION, ANON_MUNICIPALITY, ANON_LANGUAGE, SESSION_PROFILE, MANAGER_REGION)

# The flags of a handler that starts afresh: `register(handler, ..., flags=LEAVES_DIALOG)`.
LEAVES_DIALOG = {"leaves_dialog": True}


async def leave_dialog(state: FSMContext) -> bool:
    """Clear the current dialog; True if there was one."""
    was_in_dialog = await state.get_state() is not None
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({key: data[key] for key in _KEPT if key in data})
    return was_in_dialog


class LeaveDialogFirst(BaseMiddleware):
    """Leaves the dialog before a handler flagged `LEAVES_DIALOG` runs.

    An inner middleware: aiogram calls it only for the handler whose filters passed, so a
    command that is refused by a filter (not a manager, say) leaves nothing behind.
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state = data.get("state")
        if isinstance(state, FSMContext) and get_flag(data, "leaves_dialog"):
            await leave_dialog(state)
        return await handler(event, data)


def leaving_dialogs(router: Router) -> Router:
    """Give the router's message and button handlers (and its sub-routers') the flag's
    meaning; returns the router."""
    router.message.middleware(LeaveDialogFirst())
    router.callback_query.middleware(LeaveDialogFirst())
    return router
