"""What the manager's screens share: region names and choice, organisation lines, the gate
on an organisation a button names."""

from __future__ import annotations

from typing import Any

from aiogram.filters import CommandObject, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from core import manager_tools as tools
from core.catalogue.active import CatalogueView
from core.manager_tools import ManagerAccess
from core.texts import Translator, in_language, split_text
from db import models
from handlers.manager_keyboards import InviteCD, OrgCD
from handlers.manager_region import current_region, pick_region, remember


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
    session: AsyncSession, access: ManagerAccess, org_id: str
) -> models.Organization | None:
    """The organisation a dialog remembered, if the manager may still manage its region."""
    org = await tools.organization_in(session, org_id)
    if org is None or not access.can(org.region_code):
        return None
    return org


def index_in(value: str, size: int) -> int | None:
    """A button's position in a list of `size`, or None when forged or stale."""
    try:
        index = int(value)
    except ValueError:
        return None
    return index if 0 <= index < size else None


class ManagedOrg(Filter):
    """The organisation the button names, as `org`, if the presser manages its region.

    Registered after the router's manager gate (which injects `access`); a forged or stale
    button does not pass and reaches the refusal ("not allowed") after the toolkit.
    """

    async def __call__(
        self,
        query: CallbackQuery,
        callback_data: OrgCD | InviteCD | None = None,
        access: ManagerAccess | None = None,
        session: AsyncSession | None = None,
    ) -> bool | dict[str, Any]:
        if callback_data is None or access is None or session is None:
            return False
        org = await tools.organization_in(session, callback_data.org)
        if org is None or not access.can(org.region_code):
            return False
        return {"org": org}


managed_org = ManagedOrg()
