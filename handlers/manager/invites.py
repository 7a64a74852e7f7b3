"""/invite: a link that makes its first opener a volunteer or coordinator of an organisation."""

from __future__ import annotations

from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deeplinks import bot_start_link
from core import manager_tools as tools
from core import people
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.manager_tools import ManagerAccess
from core.texts import Translator
from db import models
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.manager.org_screens import INVITE_ROLES, role_keyboard
from handlers.manager.shared import managed_org, org_title
from handlers.manager_keyboards import InviteCD, short
from handlers.manager_region import pick_region
from handlers.render import alert, format_date


async def cmd_invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    orgs = [o for o in await tools.region_organizations(session, region) if o.active]
    if not orgs:
        await message.answer(t("manager.orgs.empty"))
        return
    kb = Keyboard()
    for org in orgs:
        kb.button(
            text=short(t.pick(org.name, org.name_en)),
            callback_data=InviteCD(org=org.id),
        )
    kb.adjust(1)
    await message.answer(t("manager.invite.pick_org"), reply_markup=kb.as_markup())


async def cb_invite(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: InviteCD,
    message: Message,
    callback_answer: CallbackAnswer,
    bot: Bot,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
) -> None:
    if not org.active:
        alert(callback_answer, t("manager.invite.inactive"))
        return
    role = INVITE_ROLES.get(callback_data.role)
    if role is None:
        await message.edit_text(
            t("manager.invite.pick_role", name=escape(org_title(org, t.lang))),
            reply_markup=role_keyboard(org.id, t),
        )
        return
    invite = await people.create_invite(
        session,
        clock,
        role=role,
        organization_id=org.id,
        region_code=org.region_code,
        created_by_user_id=access.user_id,
    )
    link = await bot_start_link(bot, f"join-{invite.token}")
    await message.edit_text(
        t(
            "manager.invite.link",
            role=t(f"roles.{role.value}"),
            name=escape(org_title(org, t.lang)),
            link=escape(link),
            expires=format_date(invite.expires_at.date(), t.lang),
        )
    )


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): every handler gets `access`."""
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_invite, Command("invite"), flags=LEAVES_DIALOG)
    router.callback_query.register(cb_invite, InviteCD.filter(), managed_org, shown)
    return router
