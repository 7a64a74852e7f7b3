"""Closing the loop ("did you get help?", a rating, a comment) and reporting a gap (a need
the bot found nothing for)."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import referrals
from core.catalogue.active import CatalogueHolder
from core.referrals.context import Outcome
from core.search import discovery
from core.texts import Translator
from db import models
from db.enums import GotHelp
from handlers.dialogs import leave_dialog
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.referral_callbacks import LoopAction, LoopCD
from handlers.render import alert
from handlers.requests.shared import FamilyStates, GapCD


class KnownPerson(Filter):
    """A person the bot has an account for, as `family` (the core checks the referral)."""

    async def __call__(
        self, event: TelegramObject, viewer: Viewer | None = None
    ) -> bool | dict[str, Any]:
        if viewer is None or viewer.user is None:
            return False
        return {"family": viewer.user}


async def cb_got_help(
    query: CallbackQuery,
    callback_data: LoopCD,
    message: Message,
    callback_answer: CallbackAnswer,
    family: models.User,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    """ "Did you get help?" answered: the loop is closed, then a rating is asked."""
    try:
        answer = GotHelp(callback_data.value)
    except ValueError:
        alert(callback_answer, t("fallback.stale_button"))
        return
    outcome, feedback_id = await referrals.confirm(
        session,
        app.referral_context(),
        referral_id=callback_data.number,
        family=family,
        got_help=answer,
    )
    if outcome is Outcome.TAKEN:
        alert(callback_answer, t("loop.already"))
        return
    if outcome is not Outcome.OK:
        alert(callback_answer, t("my.not_yours"))
        return
    await message.edit_reply_markup(reply_markup=None)
    await state.update_data(loop_feedback=feedback_id, loop_number=callback_data.number)
    kb = Keyboard()
    for rating in range(1, 6):
        kb.button(
            text="⭐" * rating,
            callback_data=LoopCD(
                action=LoopAction.RATING, number=callback_data.number, value=str(rating)
            ),
        )
    kb.adjust(5)
    await message.answer(t("loop.ask_rating"), reply_markup=kb.as_markup())


async def _feedback_of(
    state: FSMContext, callback_data: LoopCD, callback_answer: CallbackAnswer, t: Translator
) -> int | None:
    """The feedback this conversation is rating, if the button is of the same referral."""
    data = await state.get_data()
    feedback_id = data.get("loop_feedback")
    if not isinstance(feedback_id, int) or data.get("loop_number") != callback_data.number:
        alert(callback_answer, t("fallback.stale_button"))
        return None
    return feedback_id


async def cb_rating(
    query: CallbackQuery,
    callback_data: LoopCD,
    message: Message,
    callback_answer: CallbackAnswer,
    family: models.User,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
) -> None:
    feedback_id = await _feedback_of(state, callback_data, callback_answer, t)
    if feedback_id is None:
        return
    if not callback_data.value.isdigit() or not 1 <= int(callback_data.value) <= 5:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await referrals.rate(
        session, feedback_id=feedback_id, family=family, rating=int(callback_data.value)
    )
    await message.edit_reply_markup(reply_markup=None)
    kb = Keyboard()
    kb.button(
        text=t("loop.skip"),
        callback_data=LoopCD(action=LoopAction.SKIP_COMMENT, number=callback_data.number),
    )
    await state.set_state(FamilyStates.comment)
    await message.answer(t("loop.ask_comment"), reply_markup=kb.as_markup())


async def cb_skip_comment(
    query: CallbackQuery,
    callback_data: LoopCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    t: Translator,
) -> None:
    if await _feedback_of(state, callback_data, callback_answer, t) is None:
        return
    await message.edit_reply_markup(reply_markup=None)
    await _loop_done(message, state, t, callback_data.number)


async def cb_loop_refused(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    alert(callback_answer, t("my.not_yours"))


async def msg_comment(
    message: Message, viewer: Viewer, session: AsyncSession, state: FSMContext, t: Translator
) -> None:
    data = await state.get_data()
    feedback_id, number = data.get("loop_feedback"), data.get("loop_number")
    if isinstance(feedback_id, int) and viewer.user is not None:
        await referrals.rate(
            session,
            feedback_id=feedback_id,
            family=viewer.user,
            comment=(message.text or "").strip(),
        )
    await _loop_done(message, state, t, number if isinstance(number, int) else 0)


async def _loop_done(message: Message, state: FSMContext, t: Translator, number: int) -> None:
    await state.update_data(loop_feedback=None, loop_number=None)
    await leave_dialog(state)
    await message.answer(t("loop.thanks", number=number))


async def cb_gap(
    query: CallbackQuery,
    callback_data: GapCD,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    """Report a gap: first the need, then an optional comment."""
    if not callback_data.need:
        kb = Keyboard()
        for need in catalogue.view.needs.values():
            title = t.pick(need.title, need.title_en)
            kb.button(text=f"{need.emoji} {title}".strip(), callback_data=GapCD(need=need.id))
        kb.adjust(2)
        await message.answer(t("gap.ask_need"), reply_markup=kb.as_markup())
        return
    if callback_data.need == "-":
        data = await state.get_data()
        await _save_gap(message, viewer, session, state, t, app, data.get("gap_need"), None)
        return
    if callback_data.need not in catalogue.view.needs:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await leave_dialog(state)
    await state.set_state(FamilyStates.gap_comment)
    await state.update_data(gap_need=callback_data.need)
    kb = Keyboard()
    kb.button(text=t("gap.skip"), callback_data=GapCD(need="-"))
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(t("gap.ask_comment"), reply_markup=kb.as_markup())


async def msg_gap_comment(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    data = await state.get_data()
    await _save_gap(message, viewer, session, state, t, app, data.get("gap_need"), message.text)


async def _save_gap(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
    need_id: object,
    comment: str | None,
) -> None:
    await leave_dialog(state)
    if not isinstance(need_id, str):
        await message.answer(t("fallback.stale_button"))
        return
    await discovery.report_gap(
        session,
        app.clock,
        need_id=need_id,
        region_code=viewer.region_code,
        user=viewer.user,
        comment=comment,
    )
    await message.answer(t("gap.thanks"))


def create_router() -> Router:
    router = Router(name=__name__)
    known = KnownPerson()
    buttons: dict[LoopAction, ButtonHandler] = {
        LoopAction.GOT_HELP: cb_got_help,
        LoopAction.RATING: cb_rating,
        LoopAction.SKIP_COMMENT: cb_skip_comment,
    }
    for action, handler in buttons.items():
        router.callback_query.register(handler, LoopCD.filter(F.action == action), known, shown)
    router.callback_query.register(cb_loop_refused, LoopCD.filter())
    router.callback_query.register(cb_gap, GapCD.filter(), shown)
    not_command = ~F.text.startswith("/")
    router.message.register(msg_comment, FamilyStates.comment, F.text, not_command)
    router.message.register(msg_gap_comment, FamilyStates.gap_comment, F.text, not_command)
    return router
