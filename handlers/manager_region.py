"""Which region a manager's /digest, /stats and /orgs show: named, remembered, or picked.

A manager of several regions (or an admin) gets the regions as buttons instead of the first
one alphabetically; the choice is kept in the conversation's state (the FSM storage, so it
survives restarts with Redis) and any command naming a region switches it.
"""

from __future__ import annotations

from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from core import manager_tools as tools
from core.catalogue.active import CatalogueView
from core.manager_tools import ManagerAccess, RegionChoice
from core.texts import Translator
from handlers.dialogs import MANAGER_REGION
from handlers.keyboards import Keyboard

COMMANDS = ("digest", "stats", "orgs")


class RegionCD(CallbackData, prefix="mrg"):
    command: str
    region: str


async def pick_region(
    message: Message, access: ManagerAccess, args: str | None, t: Translator, view: CatalogueView
) -> str | None:
    """The region a command acts on, or None after telling the person why not."""
    requested = (args or "").split()[0] if (args or "").split() else None
    choice, code = tools.choose_region(access, requested, view.regions)
    if choice is RegionChoice.OK:
        return code
    known = ", ".join(sorted(view.regions))
    if choice is RegionChoice.UNKNOWN:
        await message.answer(t("manager.region.unknown", region=escape(code or ""), regions=known))
    elif choice is RegionChoice.FORBIDDEN:
        await message.answer(
            t("manager.region.forbidden", region=escape(code or ""), own=", ".join(access.regions))
        )
    else:
        await message.answer(t("manager.region.name_it", regions=known))
    return None


def region_name(view: CatalogueView, code: str, t: Translator) -> str:
    region = view.regions.get(code)
    if region is None:
        return code
    return t.pick(region.name, region.name_en)


def candidates(admin: bool, own: tuple[str, ...], view: CatalogueView) -> list[str]:
    return sorted(view.regions) if admin else [code for code in own if code in view.regions]


async def remembered(state: FSMContext) -> str | None:
    value = (await state.get_data()).get(MANAGER_REGION)
    return value if isinstance(value, str) else None


async def remember(state: FSMContext, region: str) -> None:
    await state.update_data({MANAGER_REGION: region})


async def current_region(
    message: Message,
    state: FSMContext,
    *,
    admin: bool,
    own: tuple[str, ...],
    command: str,
    t: Translator,
    view: CatalogueView,
) -> str | None:
    """The remembered region if still allowed, the only one, or None after asking with buttons
    (the person's own regions; every region for an admin)."""
    choices = candidates(admin, own, view)
    chosen = await remembered(state)
    if chosen is not None and chosen in choices:
        return chosen
    if len(choices) == 1:
        return choices[0]
    if not choices:
        return None
    kb = Keyboard()
    for code in sorted(choices, key=lambda c: region_name(view, c, t)):
        kb.button(
            text=region_name(view, code, t), callback_data=RegionCD(command=command, region=code)
        )
    kb.adjust(1)
    await message.answer(t("region_pick.ask"), reply_markup=kb.as_markup())
    return None


def help_lines(
    admin: bool, own: tuple[str, ...], chosen: str | None, t: Translator, view: CatalogueView
) -> str:
    """The manager's /help: their regions, the chosen one, and the region/week syntax."""
    choices = candidates(admin, own, view)
    example = chosen or (choices[0] if choices else "RU-TAM")
    return t(
        "region_pick.help",
        regions=", ".join(f"{region_name(view, c, t)} ({c})" for c in choices) or "—",
        current=f"{region_name(view, chosen, t)} ({chosen})" if chosen else t("region_pick.none"),
        example=example,
    )
