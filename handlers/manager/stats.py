"""/stats: a region's day in numbers."""

from __future__ import annotations

import datetime as dt
from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.manager_tools import ManagerAccess
from core.texts import Translator
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.manager.shared import region_name, region_of
from handlers.render import format_date


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


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): the handler gets `access`."""
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_stats, Command("stats"), flags=LEAVES_DIALOG)
    return router
