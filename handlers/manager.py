"""Regional manager's toolkit: /orgs, /invite, /stats, /export, /import (+ /broadcast, /survey,
/news in handlers.manager_news).

`IsManager` reads the person's roles from the DB on every update and hands the handler a
`ManagerAccess`; every button re-reads the organisation (or import) it names and checks its
region against that access, so a forged or stale button changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Document,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.middlewares.viewer import Viewer
from core import manager_tools as tools
from core import people
from core.catalogue import sheet as catalogue_sheet
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.catalogue.edit import KINDS, ApplySummary, region_entries
from core.catalogue.sheet import (
    MAX_FILE_BYTES,
    MAX_UNPACKED_BYTES,
    ImportProblem,
    UnreadableFile,
)
from core.channel_stats import CHANNEL_NAMES
from core.clock import Clock
from core.manager_tools import EditError, ManagerAccess
from core.texts import Translator, in_language, split_text
from db import models
from db.enums import Role
from db.models.manager import CatalogueImport
from handlers import manager_news
from handlers.dialogs import leave_dialog
from handlers.keyboards import Keyboard
from handlers.manager_keyboards import (
    DraftCD,
    ImportAction,
    ImportCD,
    InviteCD,
    OrgAction,
    OrgCD,
    SurveyCD,
    short,
)
from handlers.manager_region import current_region, pick_region, remember
from handlers.render import alert, format_date

log = logging.getLogger(__name__)

MANAGER_COMMANDS = ("orgs", "invite", "stats", "export", "import", "broadcast", "survey")
PROBLEMS_SHOWN = 40
INVITE_ROLES = {"v": Role.VOLUNTEER, "c": Role.COORDINATOR}


class OrgStates(StatesGroup):
    capacity = State()
    contact = State()
    add_name = State()


class ImportStates(StatesGroup):
    file = State()


class IsManager(Filter):
    """Passes for region managers and admins; hands the handler their `access`."""

    async def __call__(
        self,
        event: TelegramObject,
        viewer: Viewer | None = None,
        session: AsyncSession | None = None,
        settings: Settings | None = None,
    ) -> bool | dict[str, Any]:
        if viewer is None or session is None or settings is None:
            return False
        access = await tools.manager_access(
            session, viewer.telegram_id, settings.admin_ids, viewer.channel
        )
        return {"access": access} if access.allowed else False


# --- shared helpers --------------------------------------------------------------------------


def region_name(view: CatalogueView, code: str, lang: str) -> str:
    region = view.regions.get(code)
    if region is None:
        return code
    return in_language(lang, region.name, region.name_en)


async def region_of(
    message: Message,
    state: FSMContext,
    access: ManagerAccess,
    command: CommandObject,
    t: Translator,
    view: CatalogueView,
) -> str | None:
    """A named region (checked, then remembered), else the remembered or only one, else
    buttons to pick one (handlers/manager_region.py)."""
    if (command.args or "").strip():
        region = await pick_region(message, access, command.args, t, view)
        if region is not None:
            await remember(state, region)
        return region
    return await current_region(
        message,
        state,
        admin=access.admin,
        own=access.regions,
        command=command.command,
        t=t,
        view=view,
    )


async def answer_long(
    message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    parts = split_text(text)
    for index, part in enumerate(parts):
        await message.answer(part, reply_markup=reply_markup if index == len(parts) - 1 else None)


def org_title(org: models.Organization, lang: str) -> str:
    return in_language(lang, org.name, org.data.get("name_en"))


def need_titles(view: CatalogueView, needs: list[str], lang: str) -> str:
    titles = []
    for need_id in needs:
        need = view.needs.get(need_id)
        titles.append(in_language(lang, need.title, need.title_en) if need else need_id)
    return ", ".join(titles) or "—"


def municipality_names(view: CatalogueView, region: str, ids: list[str], t: Translator) -> str:
    if ids == ["all"]:
        return t("manager.orgs.whole_region")
    names = []
    for mun_id in ids:
        mun = view.municipality(mun_id)
        names.append(t.pick(mun.name, mun.name_en) if mun else mun_id)
    return ", ".join(names) or "—"


def record_line(record: tools.OrgRecord, capacity: int, t: Translator) -> str:
    median = (
        t("manager.orgs.minutes", minutes=t.number(record.median_minutes_to_accept))
        if record.median_minutes_to_accept is not None
        else "—"
    )
    return t(
        "manager.orgs.record",
        load=record.open_load,
        capacity=capacity,
        accepted=record.accepted,
        offers=record.offers,
        median=median,
        members=record.members,
    )


async def guarded_org(
    session: AsyncSession,
    access: ManagerAccess,
    org_id: str,
    callback_answer: CallbackAnswer | None,
    t: Translator,
) -> models.Organization | None:
    """The organisation if the presser may manage its region; otherwise an alert and None."""
    org = await tools.organization_in(session, org_id)
    if org is None or not access.can(org.region_code):
        if callback_answer is not None:
            alert(callback_answer, t("manager.forbidden"))
        return None
    return org


# --- /orgs ---------------------------------------------------------------------------------


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


async def cmd_orgs(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    region = await region_of(message, state, access, command, t, catalogue.view)
    if region is None:
        return
    text, keyboard = await org_list(session, region, t, catalogue.view)
    await answer_long(message, text, keyboard)


async def _edit_or_answer(message: Message, text: str, keyboard: InlineKeyboardMarkup) -> None:
    if len(text) > 4096:
        await answer_long(message, text, keyboard)
        return
    await message.edit_text(text, reply_markup=keyboard)


async def _save(
    session: AsyncSession,
    clock: Clock,
    catalogue: CatalogueHolder,
    access: ManagerAccess,
    org: models.Organization,
    callback_answer: CallbackAnswer | None,
    t: Translator,
    changes: dict[str, Any],
    active: bool | None = None,
) -> bool:
    try:
        await tools.update_organization(
            session,
            clock,
            org_id=org.id,
            region_code=org.region_code,
            changes=changes,
            view=catalogue.view,
            user_id=access.user_id,
            active=active,
        )
    except EditError as error:
        await session.rollback()
        if callback_answer is not None:
            alert(callback_answer, t("manager.orgs.invalid", detail=error.detail or error.code))
        return False
    await catalogue.refresh()
    return True


async def cb_org(
    query: CallbackQuery,
    callback_data: OrgCD,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    action, view = callback_data.action, catalogue.view
    if action in (OrgAction.LIST, OrgAction.ADD, OrgAction.ADD_NEED):
        await _org_region_action(
            message,
            callback_data,
            callback_answer,
            state,
            session,
            access,
            clock,
            t,
            catalogue,
        )
        return
    org = await guarded_org(session, access, callback_data.org, callback_answer, t)
    if org is None:
        return
    if action is OrgAction.OPEN:
        await leave_dialog(state)
        text, keyboard = await org_card(session, org, t, view)
        await _edit_or_answer(message, text, keyboard)
    elif action is OrgAction.NEEDS:
        await message.edit_text(
            t("manager.orgs.pick_needs", name=escape(org_title(org, t.lang))),
            reply_markup=needs_keyboard(org, t, view, OrgAction.NEED),
        )
    elif action is OrgAction.NEED:
        needs = list(view.needs)
        index = _index(callback_data.value, len(needs))
        if index is None:
            alert(callback_answer, t("manager.stale"))
            return
        new = tools.toggled_needs(list(org.data.get("needs") or []), needs[index], view)
        if await _save(session, clock, catalogue, access, org, callback_answer, t, {"needs": new}):
            await message.edit_reply_markup(
                reply_markup=needs_keyboard(org, t, catalogue.view, OrgAction.NEED)
            )
    elif action is OrgAction.MUNICIPALITIES:
        await message.edit_text(
            t("manager.orgs.pick_municipalities", name=escape(org_title(org, t.lang))),
            reply_markup=municipalities_keyboard(org, t, view),
        )
    elif action is OrgAction.MUNICIPALITY:
        region = view.regions.get(org.region_code)
        muns = [m.id for m in region.municipalities] if region else []
        if callback_data.value == "all":
            picked = "all"
        else:
            index = _index(callback_data.value, len(muns))
            if index is None:
                alert(callback_answer, t("manager.stale"))
                return
            picked = muns[index]
        new = tools.toggled_municipalities(
            list(org.data.get("municipalities") or []), picked, view, org.region_code
        )
        changes = {"municipalities": new}
        if await _save(session, clock, catalogue, access, org, callback_answer, t, changes):
            await message.edit_reply_markup(
                reply_markup=municipalities_keyboard(org, t, catalogue.view)
            )
    elif action is OrgAction.CAPACITY:
        await state.set_state(OrgStates.capacity)
        await state.update_data(mgr_org=org.id)
        await message.answer(
            t(
                "manager.orgs.ask_capacity",
                name=escape(org_title(org, t.lang)),
                capacity=org.capacity,
            )
        )
    elif action is OrgAction.CONTACTS:
        kb = Keyboard()
        for name in tools.CONTACT_FIELDS:
            kb.button(
                text=t(f"manager.contacts.{name}"),
                callback_data=OrgCD(action=OrgAction.CONTACT, org=org.id, value=name),
            )
        kb.button(text=t("manager.back"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
        kb.adjust(2, 2, 1, 1)
        await message.edit_reply_markup(reply_markup=kb.as_markup())
    elif action is OrgAction.CONTACT:
        if callback_data.value not in tools.CONTACT_FIELDS:
            alert(callback_answer, t("manager.stale"))
            return
        await state.set_state(OrgStates.contact)
        await state.update_data(mgr_org=org.id, mgr_field=callback_data.value)
        current = (org.data.get("contacts") or {}).get(callback_data.value) or "—"
        await message.answer(
            t(
                "manager.orgs.ask_contact",
                field=t(f"manager.contacts.{callback_data.value}"),
                current=escape(str(current)),
            )
        )
    elif action is OrgAction.MEMBERS:
        await _show_members(message, session, org, t)
    elif action is OrgAction.REMOVE:
        kb = Keyboard()
        kb.button(
            text=t("manager.members.remove_yes"),
            callback_data=OrgCD(action=OrgAction.REMOVE_OK, org=org.id, value=callback_data.value),
        )
        kb.button(
            text=t("manager.cancel"), callback_data=OrgCD(action=OrgAction.MEMBERS, org=org.id)
        )
        await message.edit_text(t("manager.members.remove_confirm"), reply_markup=kb.as_markup())
    elif action is OrgAction.REMOVE_OK:
        membership_id = _index(callback_data.value, 2**62)
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
        await _show_members(message, session, org, t)
    elif action is OrgAction.DEACTIVATE:
        kb = Keyboard()
        kb.button(
            text=t("manager.orgs.deactivate_yes"),
            callback_data=OrgCD(action=OrgAction.DEACTIVATE_OK, org=org.id),
        )
        kb.button(text=t("manager.cancel"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
        await message.edit_text(
            t("manager.orgs.deactivate_confirm", name=escape(org_title(org, t.lang))),
            reply_markup=kb.as_markup(),
        )
    elif action in (OrgAction.DEACTIVATE_OK, OrgAction.ACTIVATE):
        active = action is OrgAction.ACTIVATE
        if await _save(session, clock, catalogue, access, org, callback_answer, t, {}, active):
            fresh = await tools.organization_in(session, org.id)
            assert fresh is not None
            text, keyboard = await org_card(session, fresh, t, catalogue.view)
            await message.edit_text(text, reply_markup=keyboard)
    elif action is OrgAction.INVITE:
        await message.answer(
            t("manager.invite.pick_role", name=escape(org_title(org, t.lang))),
            reply_markup=role_keyboard(org.id, t),
        )


async def _org_region_action(
    message: Message,
    callback_data: OrgCD,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    if callback_data.action is OrgAction.ADD_NEED:
        data = await state.get_data()
        region, name = data.get("mgr_add_region"), data.get("mgr_add_name")
        needs = list(view.needs)
        index = _index(callback_data.value, len(needs))
        if not region or not name or index is None:
            alert(callback_answer, t("manager.stale"))
            return
        if not access.can(region):
            alert(callback_answer, t("manager.forbidden"))
            return
        try:
            org_schema = await tools.add_organization(
                session,
                clock,
                region_code=region,
                name=name,
                need_id=needs[index],
                view=view,
                user_id=access.user_id,
            )
        except EditError as error:
            await session.rollback()
            alert(callback_answer, t("manager.orgs.invalid", detail=error.detail or error.code))
            return
        await leave_dialog(state)
        await catalogue.refresh()
        created = await tools.organization_in(session, org_schema.id)
        assert created is not None
        text, keyboard = await org_card(session, created, t, catalogue.view)
        await message.edit_text(t("manager.orgs.added"))
        await message.answer(text, reply_markup=keyboard)
        return
    region = callback_data.value
    if region not in view.regions or not access.can(region):
        alert(callback_answer, t("manager.forbidden"))
        return
    if callback_data.action is OrgAction.LIST:
        await leave_dialog(state)
        text, keyboard = await org_list(session, region, t, view)
        await _edit_or_answer(message, text, keyboard)
        return
    await state.set_state(OrgStates.add_name)
    await state.update_data(mgr_add_region=region)
    await message.answer(t("manager.orgs.ask_name"))


def _index(value: str, size: int) -> int | None:
    try:
        index = int(value)
    except ValueError:
        return None
    return index if 0 <= index < size else None


async def _show_members(
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
                telegram_id=member.telegram_id,
                since=format_date(member.since.date(), t.lang),
                paused=paused,
            )
        )
        kb.button(
            text=short(t("manager.members.remove", role=role, telegram_id=member.telegram_id)),
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
    await _edit_or_answer(message, "\n".join(lines), kb.as_markup())


async def msg_capacity(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    text = (message.text or "").strip()
    if not text.isdigit():
        await message.answer(t("manager.orgs.bad_capacity"))
        return
    org = await guarded_org(
        session, access, str((await state.get_data()).get("mgr_org", "")), None, t
    )
    if org is None:
        await leave_dialog(state)
        await message.answer(t("manager.forbidden"))
        return
    try:
        await tools.update_organization(
            session,
            clock,
            org_id=org.id,
            region_code=org.region_code,
            changes={"capacity": int(text)},
            view=catalogue.view,
            user_id=access.user_id,
        )
    except EditError as error:
        await session.rollback()
        await message.answer(t("manager.orgs.invalid", detail=escape(error.detail or error.code)))
        return
    await leave_dialog(state)
    await catalogue.refresh()
    await _answer_card(message, session, org.id, t, catalogue)


async def msg_contact(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    data = await state.get_data()
    org = await guarded_org(session, access, str(data.get("mgr_org", "")), None, t)
    field = str(data.get("mgr_field", ""))
    if org is None or field not in tools.CONTACT_FIELDS:
        await leave_dialog(state)
        await message.answer(t("manager.forbidden"))
        return
    value = (message.text or "").strip()
    if len(value) > 300:
        await message.answer(t("manager.too_long", limit=300))
        return
    contacts = tools.contacts_with(org.data, field, None if value in ("-", "—") else value)
    try:
        await tools.update_organization(
            session,
            clock,
            org_id=org.id,
            region_code=org.region_code,
            changes={"contacts": contacts or None},
            view=catalogue.view,
            user_id=access.user_id,
        )
    except EditError as error:
        await session.rollback()
        await message.answer(t("manager.orgs.invalid", detail=escape(error.detail or error.code)))
        return
    await leave_dialog(state)
    await catalogue.refresh()
    await _answer_card(message, session, org.id, t, catalogue)


async def msg_add_name(
    message: Message, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    name = " ".join((message.text or "").split())
    if not name or len(name) > 200:
        await message.answer(t("manager.too_long", limit=200))
        return
    await state.update_data(mgr_add_name=name)
    await message.answer(
        t("manager.orgs.ask_need", name=escape(name)),
        reply_markup=needs_keyboard_for_add(t, catalogue.view),
    )


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


async def _answer_card(
    message: Message, session: AsyncSession, org_id: str, t: Translator, catalogue: CatalogueHolder
) -> None:
    fresh = await tools.organization_in(session, org_id)
    assert fresh is not None
    text, keyboard = await org_card(session, fresh, t, catalogue.view)
    await message.answer(t("manager.orgs.saved"))
    await message.answer(text, reply_markup=keyboard)


# --- /invite -------------------------------------------------------------------------------


def role_keyboard(org_id: str, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for code, role in INVITE_ROLES.items():
        kb.button(text=t(f"roles.{role.value}"), callback_data=InviteCD(org=org_id, role=code))
    return kb.as_markup()


async def cmd_invite(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
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
    callback_data: InviteCD,
    callback_answer: CallbackAnswer,
    bot: Bot,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    org = await guarded_org(session, access, callback_data.org, callback_answer, t)
    if org is None:
        return
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
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=join-{invite.token}"
    await message.edit_text(
        t(
            "manager.invite.link",
            role=t(f"roles.{role.value}"),
            name=escape(org_title(org, t.lang)),
            link=escape(link),
            expires=format_date(invite.expires_at.date(), t.lang),
        )
    )


# --- /stats --------------------------------------------------------------------------------


async def cmd_stats(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    settings: Settings,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    view = catalogue.view
    region = await region_of(message, state, access, command, t, view)
    if region is None:
        return
    stats = await tools.region_stats(
        session,
        region_code=region,
        view=view,
        now=clock.now(),
        sla_accept=dt.timedelta(hours=settings.sla_accept_hours),
        sla_contact=dt.timedelta(hours=settings.sla_contact_hours),
    )
    statuses = "\n".join(
        f"  {t(f'status.{status}')}: {count}" for status, count in sorted(stats.by_status.items())
    )
    await message.answer(
        t(
            "manager.stats.text",
            region=escape(region_name(view, region, t.lang)),
            day=format_date(stats.day, t.lang),
            families=t.number(stats.families),
            new_families=t.number(stats.new_families),
            subscribers=t.number(stats.news_subscribers),
            searches=t.number(stats.searches),
            searches_no_result=t.number(stats.searches_no_result),
            referrals_today=t.number(stats.referrals_today),
            statuses=statuses or "  —",
            past_sla=t.number(stats.open_past_sla),
            organizations=t.number(stats.organizations_active),
        )
        + "\n"
        + t("manager.stats.undelivered", count=stats.undelivered_notifications)
    )


# --- /export and /import -------------------------------------------------------------------


def help_lines(t: Translator) -> list[str]:
    return t("manager.sheet.help").splitlines()


async def cmd_export(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    if message.bot is not None:
        # "sending a file…" in the chat's header while the workbook is built.
        await message.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_DOCUMENT)
    entries = await region_entries(session, region)
    data = await asyncio.to_thread(catalogue_sheet.export_workbook, entries, help_lines(t))
    session.add(
        models.AuditLog(
            at=clock.now(),
            actor_user_id=access.user_id,
            action="catalogue_export",
            details={"region": region},
        )
    )
    await session.commit()
    day = clock.now().date().isoformat()
    counts = {kind: sum(1 for e in entries[kind].values() if e.active) for kind in KINDS}
    await message.answer_document(
        BufferedInputFile(data, f"catalogue-{region}-{day}.xlsx"),
        caption=t("manager.export.caption", region=region, **counts),
    )


async def cmd_import(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    await state.set_state(ImportStates.file)
    await state.update_data(mgr_import_region=region)
    previous = await catalogue_sheet.restorable_import(session, region)
    keyboard = None
    if previous is not None:
        kb = Keyboard()
        kb.button(
            text=t(
                "manager.import.restore_button",
                date=format_date(previous.created_at.date(), t.lang),
            ),
            callback_data=ImportCD(action=ImportAction.ASK, import_id=previous.id),
        )
        keyboard = kb.as_markup()
    await message.answer(
        t("manager.import.ask", region=region, limit=MAX_FILE_BYTES // (1024 * 1024)),
        reply_markup=keyboard,
    )


def problem_line(problem: ImportProblem, t: Translator, source: str) -> str:
    key = f"manager.import.reason.{problem.code}"
    params = {"value": "", "region": "", "row": "", "expected": "", "ge": "", "le": ""}
    params.update({k: escape(v) for k, v in problem.params.items()})
    reason = t(key, **params) if key in t.texts.by_language["ru"] else escape(problem.message)
    sheet = t(f"manager.sheet.{problem.sheet}") if problem.sheet in KINDS else problem.sheet
    if problem.row is None:
        return t("manager.import.problem_sheet", sheet=escape(sheet), reason=reason)
    template = "manager.import.problem_entry" if source == "yaml" else "manager.import.problem"
    return t(
        template,
        sheet=escape(sheet),
        row=problem.row,
        column=escape(problem.column),
        reason=reason,
    )


def summary_text(summary: ApplySummary, t: Translator) -> str:
    lines = []
    for kind in KINDS:
        added = summary.added.get(kind, 0)
        changed = summary.changed.get(kind, 0)
        gone = summary.deactivated.get(kind, 0)
        if added or changed or gone:
            lines.append(
                t(
                    "manager.import.summary_line",
                    sheet=t(f"manager.sheet.{kind}"),
                    added=added,
                    changed=changed,
                    deactivated=gone,
                )
            )
    return "\n".join(lines)


async def msg_import_file(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    document = message.document
    if document is None:
        await message.answer(t("manager.import.send_document"))
        return
    region = (await state.get_data()).get("mgr_import_region")
    if not region or not access.can(region):
        await leave_dialog(state)
        await message.answer(t("manager.forbidden"))
        return
    source = catalogue_sheet.file_source(document.file_name)
    if source is None:
        await message.answer(t("manager.import.wrong_type"))
        return
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await message.answer(t("manager.import.too_big", limit=MAX_FILE_BYTES // (1024 * 1024)))
        return
    data = await _download(bot, document)
    if data is None:
        await message.answer(t("manager.import.download_failed"))
        return
    try:
        raw = await asyncio.to_thread(catalogue_sheet.read_file, data, document.file_name)
    except UnreadableFile as error:
        if error.code == "size":
            await message.answer(
                t("manager.import.too_big", limit=MAX_FILE_BYTES // (1024 * 1024))
            )
        elif error.code == "unpacked":
            await message.answer(
                t("manager.import.unreadable_unpacked", limit=MAX_UNPACKED_BYTES // (1024 * 1024))
            )
        else:
            await message.answer(t(f"manager.import.unreadable_{error.code}"))
        return
    result = await catalogue_sheet.apply_import(
        session, clock, raw=raw, region_code=region, view=catalogue.view, user_id=access.user_id
    )
    if result.problems:
        lines = [problem_line(p, t, raw.source) for p in result.problems[:PROBLEMS_SHOWN]]
        more = len(result.problems) - PROBLEMS_SHOWN
        if more > 0:
            lines.append(t("manager.import.more", count=more))
        header = t.plural("manager.import.rejected", len(result.problems))
        await answer_long(message, header + "\n\n" + "\n".join(lines))
        return
    await leave_dialog(state)
    summary = result.summary
    if summary is None or not summary.touched or result.import_id is None:
        await message.answer(t("manager.import.unchanged"))
        return
    await catalogue.refresh()
    kb = Keyboard()
    kb.button(
        text=t("manager.import.restore"),
        callback_data=ImportCD(action=ImportAction.ASK, import_id=result.import_id),
    )
    await message.answer(
        t(
            "manager.import.applied",
            region=region,
            added=summary.total_added,
            changed=summary.total_changed,
            deactivated=summary.total_deactivated,
            details=summary_text(summary, t),
        ),
        reply_markup=kb.as_markup(),
    )


async def _download(bot: Bot, document: Document) -> bytes | None:
    buffer = io.BytesIO()
    try:
        await bot.download(document, destination=buffer)
    except Exception as error:  # Telegram or network: say so instead of failing silently
        log.warning("import: download failed (%s)", type(error).__name__)
        return None
    data = buffer.getvalue()
    return data


async def msg_import_not_document(message: Message, t: Translator) -> None:
    if (message.text or "").startswith("/"):
        raise SkipHandler()  # another router's command: let it through
    await message.answer(t("manager.import.send_document"))


async def cb_import(
    query: CallbackQuery,
    callback_data: ImportCD,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    record = await session.get(CatalogueImport, callback_data.import_id)
    if record is None or not access.can(record.region_code):
        alert(callback_answer, t("manager.forbidden"))
        return
    if callback_data.action is ImportAction.DISMISS:
        await message.edit_reply_markup(reply_markup=None)
        return
    latest = await catalogue_sheet.restorable_import(session, record.region_code)
    if latest is None or latest.id != record.id:
        alert(callback_answer, t("manager.import.restore_stale"))
        return
    if callback_data.action is ImportAction.ASK:
        kb = Keyboard()
        kb.button(
            text=t("manager.import.restore_yes"),
            callback_data=ImportCD(action=ImportAction.CONFIRM, import_id=record.id),
        )
        kb.button(
            text=t("manager.cancel"),
            callback_data=ImportCD(action=ImportAction.DISMISS, import_id=record.id),
        )
        await message.answer(
            t(
                "manager.import.restore_confirm",
                region=record.region_code,
                date=format_date(record.created_at.date(), t.lang),
            ),
            reply_markup=kb.as_markup(),
        )
        return
    await leave_dialog(state)
    summary = await catalogue_sheet.restore_import(
        session,
        clock,
        import_id=record.id,
        region_code=record.region_code,
        user_id=access.user_id,
    )
    if summary is None:
        alert(callback_answer, t("manager.import.restore_stale"))
        return
    await catalogue.refresh()
    await message.edit_text(
        t(
            "manager.import.restored",
            region=record.region_code,
            added=summary.total_added,
            changed=summary.total_changed,
            deactivated=summary.total_deactivated,
            details=summary_text(summary, t),
        )
    )


# --- refusals ------------------------------------------------------------------------------


async def cmd_not_manager(message: Message, t: Translator) -> None:
    await message.answer(t("manager.not_manager"))


async def cb_not_manager(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    alert(callback_answer, t("manager.forbidden"))


def create_router() -> Router:
    """Everything of the toolkit; goes before the plain-text search router.

    Sub-routers in order: the manager's own handlers (gated), the announcements (their
    family and coordinator buttons are not gated), then the polite refusals.
    """
    gate = IsManager()
    typed = (F.text, ~F.text.startswith("/"), gate)
    tools_router = Router(name=f"{__name__}.tools")
    tools_router.message.register(cmd_orgs, Command("orgs"), gate)
    tools_router.message.register(cmd_invite, Command("invite"), gate)
    tools_router.message.register(cmd_stats, Command("stats"), gate)
    tools_router.message.register(cmd_export, Command("export"), gate)
    tools_router.message.register(cmd_import, Command("import"), gate)
    tools_router.message.register(msg_capacity, StateFilter(OrgStates.capacity), *typed)
    tools_router.message.register(msg_contact, StateFilter(OrgStates.contact), *typed)
    tools_router.message.register(msg_add_name, StateFilter(OrgStates.add_name), *typed)
    tools_router.message.register(
        msg_import_file, StateFilter(ImportStates.file), F.document, gate
    )
    tools_router.message.register(msg_import_not_document, StateFilter(ImportStates.file), gate)
    tools_router.callback_query.register(cb_org, OrgCD.filter(), gate)
    tools_router.callback_query.register(cb_invite, InviteCD.filter(), gate)
    tools_router.callback_query.register(cb_import, ImportCD.filter(), gate)

    refusals = Router(name=f"{__name__}.refusals")
    refusals.message.register(cmd_not_manager, Command(*MANAGER_COMMANDS))
    for callback in (OrgCD, InviteCD, ImportCD, DraftCD, SurveyCD):
        refusals.callback_query.register(cb_not_manager, callback.filter())

    router = Router(name=__name__)
    router.include_routers(tools_router, manager_news.create_router(gate), refusals)
    return router
