"""The organisation screens of /orgs: the region's list, an organisation's card, its members,
and the pickers; rendering only (handlers/manager/orgs.py acts on the buttons)."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.channel_stats import CHANNEL_NAMES
from core.texts import Translator
from db import models
from db.enums import Role
from handlers.keyboards import Keyboard
from handlers.manager.shared import (
    municipality_names,
    need_titles,
    org_title,
    record_line,
    region_name,
)
from handlers.manager_keyboards import InviteCD, OrgAction, OrgCD, short
from handlers.render import edit_or_answer, format_date

INVITE_ROLES = {"v": Role.VOLUNTEER, "c": Role.COORDINATOR}


async def org_list(
    session: AsyncSession, region: str, t: Translator, view: CatalogueView
) -> tuple[str, InlineKeyboardMarkup]:
    orgs = await tools.region_organizations(session, region)
    records = await tools.org_records(session, [o.id for o in orgs])
    lines = [t("manager.orgs.title", region=escape(region_name(view, region, t.lang))), ""]
    kb = Keyboard()
    for org in orgs:
        name = t.pick(org.name, org.name_en)
        status = "" if org.active else " " + t("manager.orgs.inactive_mark")
        lines.append(f"• <b>{escape(name)}</b>{status}")
        lines.append("  " + record_line(records[org.id], org.capacity, t))
        kb.button(
            text=short(("⏸ " if not org.active else "") + name),
            callback_data=OrgCD(action=OrgAction.OPEN, org=org.id),
        )
    if not orgs:
        lines.append(t("manager.orgs.empty"))
    kb.button(text=t("manager.orgs.add"), callback_data=OrgCD(action=OrgAction.ADD, value=region))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


async def org_card(
    session: AsyncSession, org: models.Organization, t: Translator, view: CatalogueView
) -> tuple[str, InlineKeyboardMarkup]:
    data = org.data
    record = (await tools.org_records(session, [org.id]))[org.id]
    contacts = data.get("contacts") or {}
    contact_lines = [
        f"{t(f'manager.contacts.{name}')}: {escape(str(contacts[name]))}"
        for name in tools.CONTACT_FIELDS
        if contacts.get(name)
    ]
    text = t(
        "manager.orgs.card",
        name=escape(org_title(org, t.lang)),
        id=escape(org.id),
        status=t("manager.orgs.active" if org.active else "manager.orgs.inactive"),
        kind=escape(str(data.get("kind", ""))),
        needs=escape(need_titles(view, list(data.get("needs") or []), t.lang)),
        municipalities=escape(
            municipality_names(view, org.region_code, list(data.get("municipalities") or []), t)
        ),
        record=record_line(record, org.capacity, t),
        contacts="\n".join(contact_lines) or "—",
        verified_on=format_date(org.verified_on, t.lang),
    )
    kb = Keyboard()

    def button(key: str, action: OrgAction) -> None:
        kb.button(text=t(key), callback_data=OrgCD(action=action, org=org.id))

    button("manager.orgs.edit_needs", OrgAction.NEEDS)
    button("manager.orgs.edit_municipalities", OrgAction.MUNICIPALITIES)
    button("manager.orgs.edit_capacity", OrgAction.CAPACITY)
    button("manager.orgs.edit_contacts", OrgAction.CONTACTS)
    button("manager.orgs.members", OrgAction.MEMBERS)
    button("manager.orgs.invite", OrgAction.INVITE)
    if org.active:
        button("manager.orgs.deactivate", OrgAction.DEACTIVATE)
    else:
        button("manager.orgs.activate", OrgAction.ACTIVATE)
    kb.button(
        text=t("manager.back"), callback_data=OrgCD(action=OrgAction.LIST, value=org.region_code)
    )
    kb.adjust(2, 2, 2, 1, 1)
    return text, kb.as_markup()


def needs_keyboard(
    org: models.Organization, t: Translator, view: CatalogueView, action: OrgAction
) -> InlineKeyboardMarkup:
    chosen = set(org.data.get("needs") or []) if action is OrgAction.NEED else set()
    kb = Keyboard()
    for index, need in enumerate(view.needs.values()):
        title = t.pick(need.title, need.title_en)
        mark = "✅ " if need.id in chosen else ""
        kb.button(
            text=short(f"{mark}{need.emoji} {title}".strip()),
            callback_data=OrgCD(action=action, org=org.id, value=str(index)),
        )
    if action is OrgAction.NEED:
        kb.button(text=t("manager.done"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
    kb.adjust(2)
    return kb.as_markup()


def municipalities_keyboard(
    org: models.Organization, t: Translator, view: CatalogueView
) -> InlineKeyboardMarkup:
    chosen = list(org.data.get("municipalities") or [])
    kb = Keyboard()
    kb.button(
        text=("✅ " if chosen == ["all"] else "") + t("manager.orgs.whole_region"),
        callback_data=OrgCD(action=OrgAction.MUNICIPALITY, org=org.id, value="all"),
    )
    region = view.regions.get(org.region_code)
    for index, mun in enumerate(region.municipalities if region else []):
        mark = "✅ " if mun.id in chosen else ""
        kb.button(
            text=short(mark + (t.pick(mun.name, mun.name_en))),
            callback_data=OrgCD(action=OrgAction.MUNICIPALITY, org=org.id, value=str(index)),
        )
    kb.button(text=t("manager.done"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
    kb.adjust(1, *([2] * 50))
    return kb.as_markup()


def needs_keyboard_for_add(t: Translator, view: CatalogueView) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for index, need in enumerate(view.needs.values()):
        title = t.pick(need.title, need.title_en)
        kb.button(
            text=short(f"{need.emoji} {title}".strip()),
            callback_data=OrgCD(action=OrgAction.ADD_NEED, value=str(index)),
        )
    kb.adjust(2)
    return kb.as_markup()


def role_keyboard(org_id: str, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for code, role in INVITE_ROLES.items():
        kb.button(text=t(f"roles.{role.value}"), callback_data=InviteCD(org=org_id, role=code))
    return kb.as_markup()


async def show_members(
    message: Message, session: AsyncSession, org: models.Organization, t: Translator
) -> None:
    members = await tools.org_members(session, org.id)
    lines = [t("manager.members.title", name=escape(org_title(org, t.lang))), ""]
    kb = Keyboard()
    for member in members:
        role = t(f"roles.{member.role}")
        paused = " " + t("manager.members.paused") if member.paused else ""
        lines.append(
            t(
                "manager.members.line",
                role=role,
                messenger=CHANNEL_NAMES.get(member.channel, member.channel),
                messenger_id=member.messenger_id,
                since=format_date(member.since.date(), t.lang),
                paused=paused,
            )
        )
        kb.button(
            text=short(t("manager.members.remove", role=role, messenger_id=member.messenger_id)),
            callback_data=OrgCD(
                action=OrgAction.REMOVE, org=org.id, value=str(member.membership_id)
            ),
        )
    if not members:
        lines.append(t("manager.members.empty"))
    kb.button(
        text=t("manager.orgs.invite"), callback_data=OrgCD(action=OrgAction.INVITE, org=org.id)
    )
    kb.button(text=t("manager.back"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
    kb.adjust(1)
    await edit_or_answer(message, "\n".join(lines), kb.as_markup())


async def answer_card(
    message: Message, session: AsyncSession, org_id: str, t: Translator, catalogue: CatalogueHolder
) -> None:
    fresh = await tools.organization_in(session, org_id)
    assert fresh is not None
    text, keyboard = await org_card(session, fresh, t, catalogue.view)
    await message.answer(t("manager.orgs.saved"))
    await message.answer(text, reply_markup=keyboard)
