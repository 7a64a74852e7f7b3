"""/orgs: a region's organisations; one handler per button of a card.

Each button handler receives the organisation (`managed_org`, re-read and checked against
the presser's regions) and the message under the button (`shown`); a forged or stale button
reaches the toolkit's refusal instead.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.manager_tools import EditError, ManagerAccess
from core.texts import Translator
from db import models
from handlers.dialogs import LEAVES_DIALOG, leave_dialog, leaving_dialogs
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.manager.org_screens import (
    answer_card,
    municipalities_keyboard,
    needs_keyboard,
    needs_keyboard_for_add,
    org_card,
    org_list,
)
from handlers.manager.shared import (
    answer_long,
    guarded_org,
    index_in,
    managed_org,
    org_title,
    region_of,
)
from handlers.manager_keyboards import OrgAction, OrgCD
from handlers.render import alert, edit_or_answer


class OrgStates(StatesGroup):
    capacity = State()
    contact = State()
    add_name = State()


async def cmd_orgs(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await region_of(message, state, access, command, t, catalogue.view)
    if region is None:
        return
    text, keyboard = await org_list(session, region, t, catalogue.view)
    await answer_long(message, text, keyboard)


async def _save(
    session: AsyncSession,
    clock: Clock,
    catalogue: CatalogueHolder,
    access: ManagerAccess,
    org: models.Organization,
    callback_answer: CallbackAnswer,
    t: Translator,
    changes: dict[str, Any],
    active: bool | None = None,
) -> bool:
    """Save a change of the card; a refused one is rolled back and told in a pop-up."""
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
        alert(callback_answer, t("manager.orgs.invalid", detail=error.detail or error.code))
        return False
    await catalogue.refresh()
    return True


# --- the region's buttons: the list, adding an organisation ---------------------------------


async def cb_list(
    query: CallbackQuery,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = callback_data.value
    if region not in catalogue.view.regions or not access.can(region):
        alert(callback_answer, t("manager.forbidden"))
        return
    await leave_dialog(state)
    text, keyboard = await org_list(session, region, t, catalogue.view)
    await edit_or_answer(message, text, keyboard)


async def cb_add(
    query: CallbackQuery,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = callback_data.value
    if region not in catalogue.view.regions or not access.can(region):
        alert(callback_answer, t("manager.forbidden"))
        return
    await state.set_state(OrgStates.add_name)
    await state.update_data(mgr_add_region=region)
    await message.answer(t("manager.orgs.ask_name"))


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


async def cb_add_need(
    query: CallbackQuery,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    data = await state.get_data()
    region, name = data.get("mgr_add_region"), data.get("mgr_add_name")
    needs = list(view.needs)
    index = index_in(callback_data.value, len(needs))
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
        alert(callback_answer, t("manager.orgs.invalid", detail=error.detail or error.code))
        return
    await leave_dialog(state)
    await catalogue.refresh()
    created = await tools.organization_in(session, org_schema.id)
    assert created is not None
    text, keyboard = await org_card(session, created, t, catalogue.view)
    await message.edit_text(t("manager.orgs.added"))
    await message.answer(text, reply_markup=keyboard)


# --- an organisation's card -----------------------------------------------------------------


async def cb_open(
    query: CallbackQuery,
    org: models.Organization,
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    text, keyboard = await org_card(session, org, t, catalogue.view)
    await edit_or_answer(message, text, keyboard)


async def cb_needs(
    query: CallbackQuery,
    org: models.Organization,
    message: Message,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await message.edit_text(
        t("manager.orgs.pick_needs", name=escape(org_title(org, t.lang))),
        reply_markup=needs_keyboard(org, t, catalogue.view, OrgAction.NEED),
    )


async def cb_need(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    needs = list(view.needs)
    index = index_in(callback_data.value, len(needs))
    if index is None:
        alert(callback_answer, t("manager.stale"))
        return
    new = tools.toggled_needs(list(org.data.get("needs") or []), needs[index], view)
    if await _save(session, clock, catalogue, access, org, callback_answer, t, {"needs": new}):
        await message.edit_reply_markup(
            reply_markup=needs_keyboard(org, t, catalogue.view, OrgAction.NEED)
        )


async def cb_municipalities(
    query: CallbackQuery,
    org: models.Organization,
    message: Message,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await message.edit_text(
        t("manager.orgs.pick_municipalities", name=escape(org_title(org, t.lang))),
        reply_markup=municipalities_keyboard(org, t, catalogue.view),
    )


async def cb_municipality(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    region = view.regions.get(org.region_code)
    muns = [m.id for m in region.municipalities] if region else []
    if callback_data.value == "all":
        picked = "all"
    else:
        index = index_in(callback_data.value, len(muns))
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


async def cb_capacity(
    query: CallbackQuery,
    org: models.Organization,
    message: Message,
    state: FSMContext,
    t: Translator,
) -> None:
    await state.set_state(OrgStates.capacity)
    await state.update_data(mgr_org=org.id)
    await message.answer(
        t(
            "manager.orgs.ask_capacity",
            name=escape(org_title(org, t.lang)),
            capacity=org.capacity,
        )
    )


async def cb_contacts(
    query: CallbackQuery, org: models.Organization, message: Message, t: Translator
) -> None:
    kb = Keyboard()
    for name in tools.CONTACT_FIELDS:
        kb.button(
            text=t(f"manager.contacts.{name}"),
            callback_data=OrgCD(action=OrgAction.CONTACT, org=org.id, value=name),
        )
    kb.button(text=t("manager.back"), callback_data=OrgCD(action=OrgAction.OPEN, org=org.id))
    kb.adjust(2, 2, 1, 1)
    await message.edit_reply_markup(reply_markup=kb.as_markup())


async def cb_contact(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    t: Translator,
) -> None:
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


async def cb_deactivate(
    query: CallbackQuery, org: models.Organization, message: Message, t: Translator
) -> None:
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


async def cb_set_active(
    query: CallbackQuery,
    org: models.Organization,
    callback_data: OrgCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    """ "Deactivate: yes" and "activate" both land here."""
    active = callback_data.action is OrgAction.ACTIVATE
    if await _save(session, clock, catalogue, access, org, callback_answer, t, {}, active):
        fresh = await tools.organization_in(session, org.id)
        assert fresh is not None
        text, keyboard = await org_card(session, fresh, t, catalogue.view)
        await message.edit_text(text, reply_markup=keyboard)


# --- typed answers: capacity and a contact --------------------------------------------------


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
    org = await guarded_org(session, access, str((await state.get_data()).get("mgr_org", "")))
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
        await message.answer(t("manager.orgs.invalid", detail=escape(error.detail or error.code)))
        return
    await leave_dialog(state)
    await catalogue.refresh()
    await answer_card(message, session, org.id, t, catalogue)


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
    org = await guarded_org(session, access, str(data.get("mgr_org", "")))
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
        await message.answer(t("manager.orgs.invalid", detail=escape(error.detail or error.code)))
        return
    await leave_dialog(state)
    await catalogue.refresh()
    await answer_card(message, session, org.id, t, catalogue)


# Buttons that name a region (or the add dialog), not an organisation.
_REGION_BUTTONS: dict[Any, ButtonHandler] = {
    OrgAction.LIST: cb_list,
    OrgAction.ADD: cb_add,
    OrgAction.ADD_NEED: cb_add_need,
}
# Buttons that name an organisation: each gets it checked by `managed_org`.
_ORG_BUTTONS: dict[Any, ButtonHandler] = {
    OrgAction.OPEN: cb_open,
    OrgAction.NEEDS: cb_needs,
    OrgAction.NEED: cb_need,
    OrgAction.MUNICIPALITIES: cb_municipalities,
    OrgAction.MUNICIPALITY: cb_municipality,
    OrgAction.CAPACITY: cb_capacity,
    OrgAction.CONTACTS: cb_contacts,
    OrgAction.CONTACT: cb_contact,
    OrgAction.DEACTIVATE: cb_deactivate,
    OrgAction.DEACTIVATE_OK: cb_set_active,
    OrgAction.ACTIVATE: cb_set_active,
}


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): every handler gets `access`."""
    typed = (F.text, ~F.text.startswith("/"))
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_orgs, Command("orgs"), flags=LEAVES_DIALOG)
    router.message.register(msg_capacity, StateFilter(OrgStates.capacity), *typed)
    router.message.register(msg_contact, StateFilter(OrgStates.contact), *typed)
    router.message.register(msg_add_name, StateFilter(OrgStates.add_name), *typed)
    for action, handler in _REGION_BUTTONS.items():
        router.callback_query.register(handler, OrgCD.filter(F.action == action), shown)
    for action, handler in _ORG_BUTTONS.items():
        router.callback_query.register(
            handler, OrgCD.filter(F.action == action), managed_org, shown
        )
    return router
