"""/find: a short guided screener; every question can be skipped, results explain themselves.

The questions and answers are in questions, the results screen in results.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import ANON_REGION, Viewer
from core import people
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.screener import Verdict, screen
from core.search import discovery
from core.texts import Translator
from handlers.dialogs import LEAVES_DIALOG, SESSION_PROFILE, leaving_dialogs
from handlers.filters import shown
from handlers.find.questions import (
    ANSWERS,
    FINISH,
    INVALID,
    ORDER,
    FindCD,
    FindStates,
    decode,
    from_profile,
    money,
    next_step,
    question,
    shown_value,
    to_profile,
    typed_child,
)
from handlers.find.results import cb_why_not, render_results
from handlers.keyboards import inline_button, markup
from handlers.render import alert, send_long
from handlers.search import PlainText


async def _region_of(viewer: Viewer, answers: dict[str, Any]) -> str | None:
    return viewer.region_code or answers.get("region")


async def cmd_find(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    saved = await discovery.load_profile(session, viewer.user)
    if saved is not None:
        keyboard = markup(
            [
                inline_button(t("find.reuse_yes"), FindCD(step="reuse", value="yes")),
                inline_button(t("find.reuse_no"), FindCD(step="reuse", value="no")),
            ]
        )
        await state.set_state(FindStates.answering)
        await message.answer(t("find.reuse"), reply_markup=keyboard)
        return
    intro = (
        t("find.intro")
        + "\n"
        + t("find.intro_saved" if viewer.consented else "find.intro_anonymous")
    )
    await message.answer(intro)
    await _start(message, viewer, state, t, catalogue)


async def _start(
    message: Message, viewer: Viewer, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    answers: dict[str, Any] = {"_asked": []}
    await state.set_state(FindStates.answering)
    await state.update_data({ANSWERS: answers})
    await _ask_next(message, viewer, None, state, t, catalogue)


async def _ask_next(
    message: Message,
    viewer: Viewer,
    session: AsyncSession | None,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    clock: Clock | None = None,
) -> None:
    answers: dict[str, Any] = (await state.get_data()).get(ANSWERS, {"_asked": []})
    region = await _region_of(viewer, answers)
    step = next_step(answers, region)
    if step is None:
        assert session is not None and clock is not None
        await _show_results(message, viewer, session, state, clock, t, catalogue, answers)
        return
    text, keyboard = question(step, answers, t, catalogue.view, region)
    await message.answer(text, reply_markup=keyboard)


async def _record(state: FSMContext, step: str, value: Any) -> dict[str, Any]:
    answers: dict[str, Any] = dict((await state.get_data()).get(ANSWERS, {"_asked": []}))
    answers["_asked"] = [*answers.get("_asked", []), step]
    if value is not None:
        answers[step] = value
    await state.update_data({ANSWERS: answers})
    return answers


async def cb_reuse(
    query: CallbackQuery,
    callback_data: FindCD,
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    """Use the saved answers ("yes"), or start over."""
    view = catalogue.view
    saved = await discovery.load_profile(session, viewer.user, view, viewer.region_code)
    await message.edit_reply_markup(reply_markup=None)
    if callback_data.value == "yes" and saved is not None:
        answers = {**from_profile(saved), "_asked": list(ORDER)}
        await state.update_data({ANSWERS: answers})
        await _show_results(message, viewer, session, state, clock, t, catalogue, answers)
    else:
        await _start(message, viewer, state, t, catalogue)


async def cb_answer(
    query: CallbackQuery,
    callback_data: FindCD,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    data = await state.get_data()
    answers: dict[str, Any] = data.get(ANSWERS, {"_asked": []})
    region = await _region_of(viewer, answers)
    # Only the question being asked now may be answered: an old or forged button changes nothing.
    if await state.get_state() != FindStates.answering or callback_data.step != next_step(
        answers, region
    ):
        alert(callback_answer, t("fallback.stale_button"))
        return
    value = decode(callback_data.step, callback_data.value, catalogue.view, region)
    if value is INVALID:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await message.edit_reply_markup(reply_markup=None)
    if callback_data.value == FINISH:
        answers = await _record(state, callback_data.step, None)
        await _show_results(message, viewer, session, state, clock, t, catalogue, answers)
        return
    if callback_data.step == "region" and isinstance(value, str):
        await _remember_region(viewer, session, state, value)
    await _record(state, callback_data.step, value)
    await _ask_next(message, viewer, session, state, t, catalogue, clock)


async def _remember_region(
    viewer: Viewer, session: AsyncSession, state: FSMContext, region: str
) -> None:
    if viewer.user is not None:
        await people.set_location(session, viewer.user, region, None)
    else:
        await state.update_data({ANON_REGION: region})
    viewer.region_code = region


async def msg_typed_answer(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    """A typed number answers the income or a child's age; anything else gets a hint."""
    answers: dict[str, Any] = (await state.get_data()).get(ANSWERS, {"_asked": []})
    step = next_step(answers, await _region_of(viewer, answers))
    text = (message.text or "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
    text = text.removesuffix("₽").removesuffix("руб").removesuffix("р")
    try:
        number = float(text[:20])
    except ValueError:
        number = -1.0
    if step == "income" and 0 <= number <= 10_000_000:
        value: Any = round(number)
    elif step is not None and step.startswith("child_age_") and (typed := typed_child(text)):
        value = typed
    else:
        await message.answer(t("find.bad_number"))
        return
    await message.answer(
        t(
            "find.typed_answer",
            value=escape(money(value, t) if step == "income" else shown_value(value)),
        )
    )
    await _record(state, step, value)
    await _ask_next(message, viewer, session, state, t, catalogue, clock)


async def _show_results(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
    answers: dict[str, Any],
) -> None:
    view = catalogue.view
    region = await _region_of(viewer, answers)
    profile = to_profile(answers, region, clock.now().date())
    verdicts = screen(view.measures.values(), profile, view.regions, clock.now().date())
    fitting = [v for v in verdicts if v.verdict is not Verdict.NOT_ELIGIBLE]
    await state.set_state(None)
    await state.update_data({ANSWERS: None, SESSION_PROFILE: profile.model_dump(mode="json")})
    if await discovery.save_profile(session, clock, viewer.user, profile):
        await message.answer(t("find.saved"))
    await discovery.log_screening(
        session, clock, region_code=region, user=viewer.user, found=len(fitting)
    )
    if not fitting:
        await message.answer(t("find.nothing"))
        return
    text, keyboard = render_results(verdicts, view, t)
    await send_long(message, text, reply_markup=keyboard, parse_mode="HTML")


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_find, Command("find"), flags=LEAVES_DIALOG)
    router.callback_query.register(cb_why_not, FindCD.filter(F.step == "why_not"), shown)
    router.callback_query.register(cb_reuse, FindCD.filter(F.step == "reuse"), shown)
    router.callback_query.register(cb_answer, FindCD.filter(), shown)
    router.message.register(msg_typed_answer, StateFilter(FindStates.answering), PlainText())
    return router
