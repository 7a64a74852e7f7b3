"""Regional manager's toolkit: /orgs, /invite, /stats, /export, /import, /broadcast, /survey.

One room per tool (orgs, members, invites, stats, catalogue_import, announcements); this
module wires them behind one gate. The gate (`IsManager`) is a router-level filter: it reads
the person's roles from the DB once per toolkit update and hands every handler a
`ManagerAccess`; a cheap first check (the toolkit's commands, dialog states and button
prefixes) keeps that read off every other update. Every button re-reads the organisation (or
import, draft, survey) it names and checks its region against that access, so a forged or
stale button changes nothing.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter, or_f
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from core.texts import Translator
from handlers import news
from handlers.filters import CallbackPrefixes, IsManager
from handlers.manager import announcements, catalogue_import, invites, members, orgs, stats
from handlers.manager_keyboards import DraftCD, ImportCD, InviteCD, OrgCD, SurveyCD
from handlers.render import alert

MANAGER_COMMANDS = ("orgs", "invite", "stats", "export", "import", "broadcast", "survey")
# The buttons only a manager presses; the families' and coordinators' answers to an
# announcement are handlers/news.py, outside the gate.
MANAGER_BUTTONS = (OrgCD, InviteCD, ImportCD, DraftCD, SurveyCD)


async def cmd_not_manager(message: Message, t: Translator) -> None:
    await message.answer(t("manager.not_manager"))


async def cb_not_manager(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    """A person who is not a manager, or a button naming what this manager may not touch."""
    alert(callback_answer, t("manager.forbidden"))


def create_router() -> Router:
    """Everything of the toolkit; goes before the plain-text search router.

    Sub-routers in order: the gated tools, the announcements' receiving side (not gated),
    then the polite refusals.
    """
    gate = IsManager()
    tools = Router(name=f"{__name__}.tools")
    dialogs = StateFilter(orgs.OrgStates, catalogue_import.ImportStates, announcements.NewsStates)
    tools.message.filter(or_f(Command(*MANAGER_COMMANDS), dialogs), gate)
    tools.callback_query.filter(CallbackPrefixes(*MANAGER_BUTTONS), gate)
    tools.include_routers(
        orgs.create_router(),
        members.create_router(),
        invites.create_router(),
        stats.create_router(),
        catalogue_import.create_router(),
        announcements.create_router(),
    )

    refusals = Router(name=f"{__name__}.refusals")
    refusals.message.register(cmd_not_manager, Command(*MANAGER_COMMANDS))
    for callback in MANAGER_BUTTONS:
        refusals.callback_query.register(cb_not_manager, callback.filter())

    router = Router(name=__name__)
    router.include_routers(tools, news.create_router(), refusals)
    return router
