"""The buttons of a region choice (handlers/manager_region.py): remember the region, then run
the command that asked for it.

Apart from the region helpers because it calls back into /digest, /stats and /orgs, whose
modules use those helpers: kept in one module, they would import each other.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.middlewares.viewer import Viewer
from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.texts import Translator
from handlers.dialogs import leave_dialog
from handlers.digest import cmd_digest
from handlers.filters import shown
from handlers.manager.orgs import cmd_orgs
from handlers.manager.stats import cmd_stats
from handlers.manager_region import COMMANDS, RegionCD, region_name, remember
from handlers.render import alert


async def cb_pick_region(
    query: CallbackQuery,
    message: Message,
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
    access = await tools.manager_access(
        session, viewer.messenger_id, settings.admin_ids, viewer.channel
    )
    region = callback_data.region
    if not access.can(region) or callback_data.command not in COMMANDS:
        alert(callback_answer, t("region_pick.stale"))
        return
    await remember(state, region)
    view = catalogue.view
    await message.edit_text(
        t("region_pick.chosen", region=region_name(view, region, t), example=region)
    )
    args = CommandObject(command=callback_data.command, args=region)
    if callback_data.command == "digest":
        await cmd_digest(message, args, bot, viewer, session, state, t, catalogue, settings, clock)
    elif callback_data.command == "stats":
        # /stats and /orgs leave the dialog by their registration flag; called here, by hand.
        await leave_dialog(state)
        await cmd_stats(message, args, state, session, access, settings, clock, t, catalogue)
    else:
        await leave_dialog(state)
        await cmd_orgs(message, args, state, session, access, t, catalogue)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(cb_pick_region, RegionCD.filter(), shown)
    return router
