"""Which region a manager's /digest, /stats and /orgs show: named, remembered, or picked.

A manager of several regions (or an admin) gets the regions as buttons instead of the first
one alphabetically; the choice is kept in the conversation's state (the FSM storage, so it
survives restarts with Redis) and any command naming a region switches it.
"""

from __future__ import annotations

from html import escape

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.middlewares.viewer import Viewer
from bot.services import manager_tools as tools
from bot.services.catalogue import CatalogueHolder, CatalogueView
from bot.services.manager_tools import ManagerAccess, RegionChoice
from bot.texts import Translator
from handlers.dialogs import MANAGER_REGION
from handlers.keyboards import Keyboard
from handlers.render import alert

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
    return region.name if t.lang == "ru" else region.name_en


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


async def cb_pick_region(
    query: CallbackQuery,
    callback_data: RegionCD,
    callback_answer: CallbackAnswer,
    bot: Bot,
    state: FSMContext,
    viewer: Viewer,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    """Remember the region (re-checked against the DB), then show what was asked for."""
    access = await tools.manager_access(session, viewer.telegram_id, settings.admin_ids)
    region = callback_data.region
    if (
        not access.can(region)
        or callback_data.command not in COMMANDS
        or not isinstance(query.message, Message)
    ):
        alert(callback_answer, t("region_pick.stale"))
        return
    await remember(state, region)
    view = catalogue.view
    await query.message.edit_text(
        t("region_pick.chosen", region=region_name(view, region, t), example=region)
    )
    args = CommandObject(command=callback_data.command, args=region)
    # Imported here: those modules import this one for `current_region`.
    if callback_data.command == "digest":
        from handlers.digest import cmd_digest

        await cmd_digest(
            query.message, args, bot, viewer, session, state, t, catalogue, settings, clock
        )
    elif callback_data.command == "stats":
        from handlers.manager import cmd_stats

        await cmd_stats(query.message, args, state, session, access, settings, clock, t, catalogue)
    else:
        from handlers.manager import cmd_orgs

        await cmd_orgs(query.message, args, state, session, access, t, catalogue)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(cb_pick_region, RegionCD.filter())
    return router
