"""Reminders in the chat: the opt-in (after a saved profile, in /profile and /reminders), the
buttons under every reminder («не напоминать об этом», «отключить напоминания») and the text
of each reminder as the outbox worker sends it."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import Viewer
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.reminders import consent
from core.reminders.dates import children_without_month
from core.reminders.job import saved_profile
from core.reminders.kinds import OUTBOX_KIND_PREFIX, ReminderKind
from core.texts import Translator
from db import models
from handlers.cards import CardAction, CardCD
from handlers.dialogs import leave_dialog
from handlers.keyboards import Keyboard
from handlers.render import alert

KINDS = frozenset(kind.value for kind in ReminderKind)
REMINDER_KINDS = OUTBOX_KIND_PREFIX  # outbox kinds this module renders start with it
# Card buttons under a new-help message, at most.
CARD_BUTTONS = 6
TITLE_LIMIT = 60


class RemindAction(StrEnum):
    ON = "on"
    OFF = "off"
    DECLINE = "no"
    MUTE = "mute"
    SHOW = "show"
    STOP = "stop"  # «отключить напоминания» under a reminder
    UNMUTE = "all"  # «снова напоминать обо всём»


class RemindCD(CallbackData, prefix="rmd"):
    action: RemindAction
    kind: str = ""


# --- the opt-in ------------------------------------------------------------------------------


def _status_keyboard(on: bool, t: Translator, muted: bool = False) -> InlineKeyboardMarkup:
    kb = Keyboard()
    if on and muted:
        kb.button(text=t("reminders.unmute"), callback_data=RemindCD(action=RemindAction.UNMUTE))
    if on:
        kb.button(text=t("reminders.turn_off"), callback_data=RemindCD(action=RemindAction.OFF))
    else:
        kb.button(text=t("reminders.turn_on"), callback_data=RemindCD(action=RemindAction.ON))
    kb.adjust(1)
    return kb.as_markup()


async def status(
    session: AsyncSession, view: CatalogueView, user: models.User, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """What /reminders says: on or off, what it reminds of, what it cannot time, what was
    muted; with the buttons that change it."""
    on = await consent.reminders_on(session, user.id)
    if not on:
        return t("reminders.status_off"), _status_keyboard(False, t)
    lines = [t("reminders.status_on")]
    profile = await saved_profile(session, view, user)
    if profile is None:
        lines.append(t("reminders.no_profile"))
    elif children_without_month(profile):
        lines.append(t("reminders.no_birth_month"))
    muted = await consent.muted_kinds(session, user.id)
    if muted:
        names = ", ".join(t(f"reminders.kind.{kind}") for kind in ReminderKind if kind in muted)
        lines.append(t("reminders.muted", kinds=names))
    return "\n\n".join(lines), _status_keyboard(True, t, muted=bool(muted))


async def _show_status(
    message: Message, session: AsyncSession, view: CatalogueView, user: models.User, t: Translator
) -> None:
    text, keyboard = await status(session, view, user, t)
    await message.answer(text, reply_markup=keyboard)


async def cmd_reminders(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    if not viewer.consented or viewer.user is None:
        await message.answer(t("reminders.need_consent"))
        return
    await _show_status(message, session, catalogue.view, viewer.user, t)


async def offer_reminders(
    message: Message, viewer: Viewer, session: AsyncSession, t: Translator
) -> None:
    """After a profile is saved: ask once, unless the family has answered before (turned
    reminders on, even if it later turned them off)."""
    if viewer.user is None or not viewer.consented:
        return
    if await consent.ever_turned_on(session, viewer.user.id):
        return
    kb = Keyboard()
    kb.button(text=t("reminders.offer_yes"), callback_data=RemindCD(action=RemindAction.ON))
    kb.button(text=t("reminders.offer_no"), callback_data=RemindCD(action=RemindAction.DECLINE))
    await message.answer(t("reminders.offer"), reply_markup=kb.as_markup())


async def cb_turn(
    query: CallbackQuery,
    callback_data: RemindCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if not viewer.consented or viewer.user is None:
        alert(callback_answer, t("reminders.need_consent"))
        return
    action = callback_data.action
    if action is RemindAction.UNMUTE:
        await consent.unmute_all(session, viewer.user.id)
        callback_answer.text = t("reminders.unmuted")
    else:
        on = action is RemindAction.ON
        await consent.set_reminders(session, clock, viewer.user, on)
        callback_answer.text = t("reminders.turned_on" if on else "reminders.turned_off")
    if not isinstance(query.message, Message):
        return
    text, keyboard = await status(session, catalogue.view, viewer.user, t)
    if action is RemindAction.STOP:
        # Pressed under a reminder: the reminder stays as it was, the status comes apart
        # (with the button to turn them on again).
        await query.message.answer(text, reply_markup=keyboard)
    else:
        await query.message.edit_text(text, reply_markup=keyboard)


async def cb_decline(query: CallbackQuery, t: Translator) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(t("reminders.declined"))


async def cb_show(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if not viewer.consented or viewer.user is None:
        alert(callback_answer, t("reminders.need_consent"))
        return
    if isinstance(query.message, Message):
        await _show_status(query.message, session, catalogue.view, viewer.user, t)


async def cb_mute(
    query: CallbackQuery,
    callback_data: RemindCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
) -> None:
    if callback_data.kind not in KINDS:
        alert(callback_answer, t("reminders.unknown"))  # a forged or outdated button
        return
    if viewer.user is None:
        alert(callback_answer, t("reminders.need_consent"))
        return
    await consent.mute(session, clock, viewer.user.id, ReminderKind(callback_data.kind))
    kind = t(f"reminders.kind.{callback_data.kind}")
    alert(callback_answer, t("reminders.muted_one", kind=kind))


TURNING = frozenset({RemindAction.ON, RemindAction.OFF, RemindAction.STOP, RemindAction.UNMUTE})


def profile_button(t: Translator) -> tuple[str, RemindCD]:
    """The /profile keyboard's way in."""
    return t("reminders.profile_button"), RemindCD(action=RemindAction.SHOW)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_reminders, Command("reminders"))
    router.callback_query.register(
        cb_turn,
        RemindCD.filter(F.action.in_(TURNING)),
    )
    router.callback_query.register(cb_decline, RemindCD.filter(F.action == RemindAction.DECLINE))
    router.callback_query.register(cb_show, RemindCD.filter(F.action == RemindAction.SHOW))
    router.callback_query.register(cb_mute, RemindCD.filter(F.action == RemindAction.MUTE))
    return router


# --- the reminders as sent -------------------------------------------------------------------


def _when(params: dict[str, Any], t: Translator) -> str:
    """A full date in words, or a month the family gave without the day."""
    day = params.get("day")
    if isinstance(day, str):
        return t("reminders.when_day", day=t.day(dt.date.fromisoformat(day)))
    month = dt.date.fromisoformat(f"{params.get('month', '')}-01")
    return t("reminders.when_month", month=str(format_date(month, "MMMM y", locale=t.lang)))


def _short(title: str) -> str:
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"


def _card(kb: Keyboard, measure_id: str, title: str) -> None:
    kb.button(
        text=f"📌 {_short(title)}", callback_data=CardCD(action=CardAction.MEASURE, id=measure_id)
    )


def render_reminder(
    kind: str, t: Translator, view: CatalogueView, params: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of an outbox row `reminder.<kind>` in the recipient's language."""
    reminder = kind.removeprefix(OUTBOX_KIND_PREFIX)
    if reminder not in KINDS:
        raise LookupError(kind)
    kb = Keyboard()
    if reminder == ReminderKind.NEW_HELP:
        # Titles travel with the row: a CLI `content load` changes the catalogue under a
        # running bot, whose view may not have the new measure yet.
        measures = [m for m in params.get("measures", []) if isinstance(m, dict)]
        items = [t.pick(str(m.get("title", "")), m.get("title_en")) for m in measures]
        text = t(
            "reminders.text.new_help",
            measures="\n".join(f"• {escape(item)}" for item in items),
        )
        for entry, label in list(zip(measures, items, strict=True))[:CARD_BUTTONS]:
            _card(kb, str(entry.get("id", "")), label)
    else:
        measure = view.measures.get(str(params.get("measure", "")))
        fallback = str(params.get("title") or "")
        title = t.pick(measure.title, measure.title_en) if measure else fallback
        when = _when(params, t) if ("day" in params or "month" in params) else ""
        if params.get("estimated"):
            when += t("reminders.estimated")
        text = t(f"reminders.text.{reminder}", when=when, title=escape(title))
        if measure is not None:
            _card(kb, measure.id, title)
    kb.button(
        text=t("reminders.mute"), callback_data=RemindCD(action=RemindAction.MUTE, kind=reminder)
    )
    kb.button(text=t("reminders.stop_all"), callback_data=RemindCD(action=RemindAction.STOP))
    kb.adjust(1)
    return text, kb.as_markup()
