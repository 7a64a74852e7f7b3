"""/plan («Мой план»): a message to forward and a PDF to print, and the buttons that keep the
plan: mark a measure from its card or the screener's results, tick documents, change status.

Marks are stored only with consent: an anonymous family pressing a plan button is asked for
it first and nothing is written. Every button carries a measure id only; the family's own
item is read back from the database, so a forged or someone else's button changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.chat_action import ChatActionSender
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import plan
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.plan.marks import PlanOutcome
from core.plan.pdf import render_pdf
from core.plan.view import FamilyPlan, Line, PlanEntry, Style, entry_lines, load_plan, plan_lines
from core.screener import Verdict, screen
from core.texts import Translator
from db.enums import PlanStatus
from handlers.cards import family_profile
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import markup
from handlers.onboarding import ask_consent
from handlers.plan_keyboards import (
    PlanAction,
    PlanCD,
    item_keyboard,
    manage_buttons,
    pick_buttons,
    status_picker,
)
from handlers.render import alert, send_long

# Measures offered in the screener's "mark in the plan" list.
MAX_PICK = 30

_REFUSALS = {
    PlanOutcome.UNKNOWN_MEASURE: "plan.unknown_measure",
    PlanOutcome.NOT_IN_PLAN: "plan.not_in_plan",
    PlanOutcome.BAD_DOCUMENT: "plan.bad_document",
    PlanOutcome.CLOSED: "plan.closed",
    PlanOutcome.FULL: "plan.full",
}


def family_day(view: CatalogueView, region_code: str | None, clock: Clock) -> dt.date:
    """The family's calendar day: deadlines count in their region's time."""
    region = view.regions.get(region_code or "")
    zone = ZoneInfo(region.timezone if region is not None else "Europe/Moscow")
    return clock.now().astimezone(zone).date()


def to_html(lines: list[Line]) -> str:
    """The plan's lines as a Telegram message (HTML; catalogue text escaped)."""
    out: list[str] = []
    for line in lines:
        text = escape(line.text, quote=False)
        icon = f"{line.icon} " if line.icon else ""
        match line.style:
            case Style.TITLE:
                out.append(f"<b>{icon}{text}</b>")
            case Style.SUBTITLE | Style.NOTE:
                out.append(f"<i>{text}</i>")
            case Style.HEADING:
                out.extend(["", f"<b>{icon}{text}</b>"])
            case Style.ITEM:
                out.append(f"• <b>{text}</b>")
            case Style.DOC:
                out.append(f"    ☐ {text}")
            case Style.DOC_DONE:
                out.append(f"    ☑ {text}")
            case _:
                out.append(f"    {text}")
    return "\n".join(out)


async def _need_consent(message: Message, t: Translator, privacy: PrivacyNotice) -> None:
    await message.answer(t("plan.need_consent"))
    await ask_consent(message, t, privacy)


async def cmd_plan(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
    privacy: PrivacyNotice,
    bot: Bot,
) -> None:
    if viewer.user is None or not viewer.consented:
        await _need_consent(message, t, privacy)
        return
    view = catalogue.view
    profile = await family_profile(viewer, session, state, view)
    family = await load_plan(
        session, viewer.user, view, profile, family_day(view, viewer.region_code, clock)
    )
    if family.empty:
        await message.answer(t("plan.empty"))
        return
    lines = plan_lines(family, t, view)
    buttons = manage_buttons([e.measure for e in family.entries if e.measure is not None], t)
    await send_long(message, to_html(lines), reply_markup=markup(buttons, 1), parse_mode="HTML")
    await _send_pdf(message, lines, family, clock, t, bot)


async def _send_pdf(
    message: Message, lines: list[Line], family: FamilyPlan, clock: Clock, t: Translator, bot: Bot
) -> None:
    async with ChatActionSender.upload_document(bot=bot, chat_id=message.chat.id):
        # fpdf2 lays out and subsets the font in Python: off the event loop.
        data = await asyncio.to_thread(render_pdf, lines, clock.now(), t("plan.pdf_title"))
    name = f"plan-{family.made_on.isoformat()}.pdf"
    await message.answer_document(
        BufferedInputFile(data, filename=name), caption=t("plan.pdf_caption")
    )


async def cb_ask_status(
    query: CallbackQuery,
    message: Message,
    callback_data: PlanCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    privacy: PrivacyNotice,
) -> None:
    """A card's «В мой план» or a measure picked from the screener's list."""
    measure = catalogue.view.measures.get(callback_data.m)
    if measure is None:
        alert(callback_answer, t("plan.unknown_measure"))
        return
    if not viewer.consented:
        await _need_consent(message, t, privacy)
        return
    current = (await plan.statuses(session, viewer.user)).get(measure.id)
    text = t("plan.ask_status", title=escape(t.pick(measure.title, measure.title_en)))
    if current is not None:
        text += "\n" + t("plan.current", status=t(f"plan.status.{current.value}"))
    await message.answer(text, reply_markup=status_picker(measure.id, current, t))


def _status(raw: str) -> PlanStatus | None:
    try:
        return PlanStatus(raw)
    except ValueError:
        return None


async def cb_set_status(
    query: CallbackQuery,
    message: Message,
    callback_data: PlanCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
    privacy: PrivacyNotice,
) -> None:
    status = _status(callback_data.v)
    if status is None:
        alert(callback_answer, t("plan.bad_status"))
        return
    view = catalogue.view
    change = await plan.set_status(session, clock, viewer.user, view, callback_data.m, status)
    if change.outcome is PlanOutcome.NO_CONSENT:
        await _need_consent(message, t, privacy)
        return
    if change.outcome is not PlanOutcome.OK:
        alert(callback_answer, t(_REFUSALS[change.outcome]))
        return
    measure = view.measures[callback_data.m]
    title = escape(t.pick(measure.title, measure.title_en))
    await message.edit_text(
        t("plan.saved", title=title, status=t(f"plan.status.{status.value}")), reply_markup=None
    )


async def _item_view(
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    view: CatalogueView,
    measure_id: str,
) -> tuple[str, PlanEntry] | None:
    """The text of one measure of the plan, or None if it is not in the family's plan."""
    if viewer.user is None:
        return None
    measure = view.measures.get(measure_id)
    profile = await family_profile(viewer, session, state, view)
    day = family_day(view, viewer.region_code, clock)
    family = await load_plan(session, viewer.user, view, profile, day)
    entry = next((e for e in family.entries if e.measure_id == measure_id), None)
    if entry is None or measure is None:
        return None
    status = t(f"plan.status.{entry.status.value}")
    lines = [*entry_lines(entry, t, view, day), Line(t("plan.current", status=status), Style.NOTE)]
    return to_html(lines) + "\n\n" + t("plan.item_hint"), entry


async def _show_item(
    message: Message,
    *,
    edit: bool,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    view: CatalogueView,
    measure_id: str,
) -> None:
    shown = await _item_view(viewer, session, state, clock, t, view, measure_id)
    if shown is None:
        missing = measure_id not in view.measures
        alert(callback_answer, t("plan.unknown_measure" if missing else "plan.not_in_plan"))
        return
    text, entry = shown
    assert entry.measure is not None
    keyboard = item_keyboard(entry.measure, entry.status, entry.done, t)
    if edit:
        await message.edit_text(text, reply_markup=keyboard)
    else:
        await message.answer(text, reply_markup=keyboard)


async def cb_open_item(
    query: CallbackQuery,
    message: Message,
    callback_data: PlanCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await _show_item(
        message,
        edit=False,
        callback_answer=callback_answer,
        viewer=viewer,
        session=session,
        state=state,
        clock=clock,
        t=t,
        view=catalogue.view,
        measure_id=callback_data.m,
    )


async def cb_item_status(
    query: CallbackQuery,
    message: Message,
    callback_data: PlanCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    """A status changed from the plan's own view: only for a measure already in the plan."""
    status = _status(callback_data.v)
    if status is None:
        alert(callback_answer, t("plan.bad_status"))
        return
    view = catalogue.view
    marks = await plan.statuses(session, viewer.user)
    if callback_data.m not in marks:
        missing = callback_data.m not in view.measures
        alert(callback_answer, t("plan.unknown_measure" if missing else "plan.not_in_plan"))
        return
    change = await plan.set_status(session, clock, viewer.user, view, callback_data.m, status)
    if change.outcome is not PlanOutcome.OK:
        alert(callback_answer, t(_REFUSALS.get(change.outcome, "plan.not_in_plan")))
        return
    await _show_item(
        message,
        edit=True,
        callback_answer=callback_answer,
        viewer=viewer,
        session=session,
        state=state,
        clock=clock,
        t=t,
        view=view,
        measure_id=callback_data.m,
    )


async def cb_toggle_document(
    query: CallbackQuery,
    message: Message,
    callback_data: PlanCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    raw = callback_data.v
    position = int(raw) if raw.isdigit() and len(raw) < 4 else -1
    view = catalogue.view
    change = await plan.toggle_document(session, viewer.user, view, callback_data.m, position)
    if change.outcome is PlanOutcome.NO_CONSENT:
        alert(callback_answer, t("plan.not_in_plan"))
        return
    if change.outcome is not PlanOutcome.OK:
        alert(callback_answer, t(_REFUSALS[change.outcome]))
        return
    assert change.item is not None
    now_done = raw in change.item.documents_done
    callback_answer.text = t("plan.ticked" if now_done else "plan.unticked")
    await _show_item(
        message,
        edit=True,
        callback_answer=callback_answer,
        viewer=viewer,
        session=session,
        state=state,
        clock=clock,
        t=t,
        view=view,
        measure_id=callback_data.m,
    )


async def cb_pick_from_results(
    query: CallbackQuery,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
    privacy: PrivacyNotice,
) -> None:
    """The screener's results as buttons: the measures that may fit, and those received."""
    if not viewer.consented:
        await _need_consent(message, t, privacy)
        return
    view = catalogue.view
    profile = await family_profile(viewer, session, state, view)
    if profile is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    day = family_day(view, viewer.region_code, clock)
    verdicts = screen(view.measures.values(), profile, view.regions, day)
    marks = await plan.statuses(session, viewer.user)
    shown = [
        view.measures[v.measure_id]
        for v in verdicts
        if v.measure_id in marks or v.verdict is not Verdict.NOT_ELIGIBLE
    ][:MAX_PICK]
    await message.answer(t("plan.pick_measure"), reply_markup=markup(pick_buttons(shown, t), 1))


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_plan, Command("plan"), flags=LEAVES_DIALOG)
    for action, handler in (
        (PlanAction.ASK, cb_ask_status),
        (PlanAction.SET, cb_set_status),
        (PlanAction.OPEN, cb_open_item),
        (PlanAction.STATUS, cb_item_status),
        (PlanAction.DOC, cb_toggle_document),
        (PlanAction.LIST, cb_pick_from_results),
    ):
        router.callback_query.register(handler, PlanCD.filter(F.a == action), shown)
    return router
