"""/digest (region managers, admins) and /cluster (admins): the weekly digest on demand."""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from dataclasses import dataclass
from html import escape

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.digest_delivery import send_rendered
from bot.middlewares.viewer import Viewer
from core import people
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.digest import (
    Week,
    WeekError,
    build_cluster_overview,
    build_digest,
    current_week,
    need_by_municipality,
    referral_rows,
    region_timezone,
    render_cluster_text,
    render_digest,
    resolve_week,
    split_message,
)
from core.texts import Translator
from db.enums import Role
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.manager_region import current_region, region_name, remember

REGION_ARG = re.compile(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}")


@dataclass(frozen=True)
class Access:
    admin: bool
    regions: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.admin or bool(self.regions)


async def access_of(session: AsyncSession, viewer: Viewer, settings: Settings) -> Access:
    """Admins by ADMIN_IDS or an admin membership; managers with the regions they manage."""
    admin = viewer.is_admin(settings.admin_ids)
    regions: set[str] = set()
    if viewer.user is not None:
        for membership in await people.memberships(session, viewer.user.id):
            if membership.role == Role.ADMIN:
                admin = True
            elif membership.role == Role.MANAGER and membership.region_code:
                regions.add(membership.region_code)
    return Access(admin, tuple(sorted(regions)))


def _split_args(args: str | None) -> tuple[str | None, str | None]:
    """`/digest [REGION] [YYYY-Www]` in either order; anything else is taken as the week."""
    region = week = None
    for token in (args or "").split():
        if region is None and REGION_ARG.fullmatch(token):
            region = token.upper()
        else:
            week = token if week is None else f"{week} {token}"
    return region, week


async def cmd_digest(
    message: Message,
    command: CommandObject,
    bot: Bot,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    settings: Settings,
    clock: Clock,
) -> None:
    access = await access_of(session, viewer, settings)
    if not access.allowed:
        await message.answer(t("digest.denied"))
        return
    view = catalogue.view
    known = ", ".join(sorted(view.regions))
    region, week_text = _split_args(command.args)
    if region is not None:
        if region not in view.regions:
            await message.answer(t("digest.unknown_region", region=escape(region), regions=known))
            return
        if not access.admin and region not in access.regions:
            await message.answer(
                t("digest.not_your_region", region=region, regions=", ".join(access.regions))
            )
            return
        await remember(state, region)
    else:
        # The remembered region, the only one, or buttons to pick one (then nothing more now).
        region = await current_region(
            message,
            state,
            admin=access.admin,
            own=access.regions,
            command="digest",
            t=t,
            view=view,
        )
        if region is None:
            return
    assert region is not None
    now = clock.now()
    try:
        week = resolve_week(week_text, now=now, tz=region_timezone(view, region))
    except WeekError as exc:
        await message.answer(t(f"digest.bad_week.{exc.code}", week=escape(week_text or "")))
        return
    # "sending a file…" in the chat's header while the numbers, chart and workbook are built.
    async with ChatActionSender.upload_document(bot=bot, chat_id=message.chat.id):
        payload = await build_digest(
            session,
            region_code=region,
            week=week,
            view=view,
            now=now,
            sla_accept_hours=settings.sla_accept_hours,
        )
        rows = await referral_rows(session, region_code=region, week=week, view=view)
        matrix = await need_by_municipality(session, region_code=region, week=week, view=view)
        rendered = await asyncio.to_thread(
            render_digest, payload, t, view, referrals=rows, matrix=matrix
        )
        await send_rendered(bot, message.chat.id, rendered, week=week.label, t=t)
    await message.answer(
        t("digest_weeks.ask", region=escape(region_name(view, region, t))),
        reply_markup=_other_weeks(
            region, week, current_week(now, region_timezone(view, region)), t
        ),
    )


class DigestWeekCD(CallbackData, prefix="dwk"):
    region: str
    week: str


def _other_weeks(region: str, shown: Week, current: Week, t: Translator) -> InlineKeyboardMarkup:
    """ "This week so far" beside "last week", without the one just shown."""
    kb = Keyboard()
    for week, key in ((current, "this_week"), (current.shift(-1), "last_week")):
        if week != shown:
            kb.button(
                text=f"{t(f'digest_weeks.{key}')} · {week.label}",
                callback_data=DigestWeekCD(region=region, week=week.label),
            )
    kb.adjust(1)
    return kb.as_markup()


async def cb_digest_week(
    query: CallbackQuery,
    message: Message,
    callback_data: DigestWeekCD,
    bot: Bot,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    settings: Settings,
    clock: Clock,
) -> None:
    """The same as typing /digest REGION WEEK: access and the week are checked again there."""
    with suppress(TelegramAPIError):
        await message.edit_reply_markup(reply_markup=None)
    args = CommandObject(command="digest", args=f"{callback_data.region} {callback_data.week}")
    await cmd_digest(message, args, bot, viewer, session, state, t, catalogue, settings, clock)


async def cmd_cluster(
    message: Message,
    command: CommandObject,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    settings: Settings,
    clock: Clock,
) -> None:
    access = await access_of(session, viewer, settings)
    if not access.admin:
        await message.answer(t("digest.cluster.denied"))
        return
    week_text = (command.args or "").strip() or None
    try:
        overview = await build_cluster_overview(
            session,
            week=week_text,
            view=catalogue.view,
            now=clock.now(),
            sla_accept_hours=settings.sla_accept_hours,
        )
    except WeekError as exc:
        await message.answer(t(f"digest.bad_week.{exc.code}", week=escape(week_text or "")))
        return
    for part in split_message(render_cluster_text(overview, t, catalogue.view)):
        await message.answer(part)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_digest, Command("digest"))
    router.callback_query.register(cb_digest_week, DigestWeekCD.filter(), shown)
    router.message.register(cmd_cluster, Command("cluster"))
    return router
