"""/help, /privacy and /cancel: available everywhere, in any dialog."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import people
from core.catalogue.active import CatalogueHolder
from core.texts import Translator
from db.enums import Role
from handlers.dialogs import leave_dialog
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.manager_region import help_lines as manager_help
from handlers.manager_region import remembered
from handlers.onboarding import consent_keyboard
from handlers.render import send_long


class PrivacyAction(StrEnum):
    FULL = "f"


class PrivacyCD(CallbackData, prefix="prv"):
    action: PrivacyAction


async def cmd_help(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    text = t("help.text")
    if viewer.user is not None:
        held = await people.memberships(session, viewer.user.id)
        roles = {Role(m.role) for m in held}
        if roles & {Role.VOLUNTEER, Role.COORDINATOR}:
            text += t("help.staff")
        if roles & {Role.MANAGER, Role.ADMIN}:
            text += t("help.manager")
            # Which regions, which one is chosen, and how to name a region and a week.
            own = tuple(
                sorted({m.region_code for m in held if m.region_code and m.role == Role.MANAGER})
            )
            chosen = await remembered(state)
            text += manager_help(Role.ADMIN in roles, own, chosen, t, catalogue.view)
    await message.answer(text)


async def cmd_privacy(
    message: Message, viewer: Viewer, t: Translator, privacy: PrivacyNotice
) -> None:
    if viewer.consented and viewer.user is not None:
        status = t("privacy.status_given", version=viewer.user.consent_version)
    else:
        status = t("privacy.status_none")
    kb = Keyboard()
    kb.button(text=t("privacy.full"), callback_data=PrivacyCD(action=PrivacyAction.FULL))
    await message.answer(t("privacy.summary", status=status), reply_markup=kb.as_markup())


async def cb_privacy_full(
    query: CallbackQuery,
    message: Message,
    viewer: Viewer,
    t: Translator,
    privacy: PrivacyNotice,
) -> None:
    # Someone who has not agreed (to this version) can agree right under the notice.
    current = viewer.user is not None and viewer.user.consent_version == privacy.version
    keyboard = None if current else consent_keyboard(t, notice=False)
    await send_long(message, privacy.for_language(t.lang), reply_markup=keyboard)


async def cmd_cancel(message: Message, state: FSMContext, t: Translator) -> None:
    left = await leave_dialog(state)
    await message.answer(t("cancel.done" if left else "cancel.nothing"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_help, Command("help"))
    router.message.register(cmd_privacy, Command("privacy"))
    router.callback_query.register(
        cb_privacy_full, PrivacyCD.filter(F.action == PrivacyAction.FULL), shown
    )
    router.message.register(cmd_cancel, Command("cancel"))
    return router
