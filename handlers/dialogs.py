"""Leaving a dialog without forgetting what an anonymous visitor chose."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext

from bot.middlewares.viewer import ANON_LANGUAGE, ANON_MUNICIPALITY, ANON_REGION

# The screener answers of this conversation: cards keep showing a personal verdict after
# the dialog ends, even for a person who did not consent to saving them.
SESSION_PROFILE = "screener_profile"
# The region a manager of several regions chose for /digest, /stats and /orgs.
MANAGER_REGION = "manager_region"
_KEPT = (ANON_REGION, ANON_MUNICIPALITY, ANON_LANGUAGE, SESSION_PROFILE, MANAGER_REGION)


async def leave_dialog(state: FSMContext) -> bool:
    """Clear the current dialog; True if there was one."""
    was_in_dialog = await state.get_state() is not None
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({key: data[key] for key in _KEPT if key in data})
    return was_in_dialog
