"""The people of an organisation on its card: the members list, removing one, inviting more
(the invite link itself is handlers/manager/invites.py)."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from core import manager_tools as tools
from core.clock import Clock
from core.manager_tools import ManagerAccess
from core.texts import Translator
from db import models
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.manager.org_screens import role_keyboard, show_members
from handlers.manager.shared import index_in, managed_org, org_title
from handlers.manager_keyboards import OrgAction, OrgCD
from handlers.render import alert


async def cb_members(
    query: CallbackQuery,
    org: models.Organization,
    message: Message,
    session: AsyncSession,
    t: Translator,
) -> None:
    await show_members(message, session, org, t)


async def cb_remove(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    t: Translator,
) -> None:
    kb = Keyboard()
    kb.button(
        text=t("manager.members.remove_yes"),
        callback_data=OrgCD(action=OrgAction.REMOVE_OK, org=org.id, value=callback_data.value),
    )
    kb.button(text=t("manager.cancel"), callback_data=OrgCD(action=OrgAction.MEMBERS, org=org.id))
    await message.edit_text(t("manager.members.remove_confirm"), reply_markup=kb.as_markup())


async def cb_remove_ok(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
) -> None:
    membership_id = index_in(callback_data.value, 2**62)
    removed = (
        await tools.remove_member(
            session,
            clock,
            membership_id=membership_id,
            region_code=org.region_code,
            user_id=access.user_id,
        )
        if membership_id is not None
        else None
    )
    if removed != org.id:
        alert(callback_answer, t("manager.stale"))
        return
    callback_answer.text = t("manager.members.removed")
    await show_members(message, session, org, t)


async def cb_invite_from_card(
    query: CallbackQuery, org: models.Organization, message: Message, t: Translator
) -> None:
    await message.answer(
        t("manager.invite.pick_role", name=escape(org_title(org, t.lang))),
        reply_markup=role_keyboard(org.id, t),
    )


_BUTTONS: dict[Any, ButtonHandler] = {
    OrgAction.MEMBERS: cb_members,
    OrgAction.REMOVE: cb_remove,
    OrgAction.REMOVE_OK: cb_remove_ok,
    OrgAction.INVITE: cb_invite_from_card,
}


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): every handler gets `access`."""
    router = Router(name=__name__)
    for action, handler in _BUTTONS.items():
        router.callback_query.register(
            handler, OrgCD.filter(F.action == action), managed_org, shown
        )
    return router
