"""Announcements: /broadcast and /survey (managers); the families' side is handlers/news.py.

A draft (text or question, filters, measure) lives in the FSM data; sending re-checks the
manager's region against the DB and queues one outbox message per family in one transaction.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_of
from core import announcements as news
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.manager_tools import ManagerAccess
from core.texts import Translator
from db.models.manager import Survey
from handlers.dialogs import LEAVES_DIALOG, leave_dialog, leaving_dialogs
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.manager.draft_panel import (
    ANY,
    BROADCAST,
    DRAFT,
    SURVEY,
    draft_audience,
    measure_link,
    show_panel,
)
from handlers.manager_keyboards import (
    DraftAction,
    DraftCD,
    SurveyAction,
    SurveyCD,
    short,
)
from handlers.manager_region import pick_region
from handlers.render import alert


class NewsStates(StatesGroup):
    broadcast_text = State()
    measure = State()
    survey_question = State()
    survey_options = State()


# --- /broadcast ----------------------------------------------------------------------------


async def cmd_broadcast(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    await state.set_state(NewsStates.broadcast_text)
    await state.update_data({DRAFT: {"kind": BROADCAST, "region": region}})
    await message.answer(t("manager.broadcast.ask_text", limit=news.TEXT_LIMIT, region=region))


async def msg_broadcast_text(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    text = (message.text or "").strip()
    if len(text) > news.TEXT_LIMIT:
        await message.answer(t("manager.too_long", limit=news.TEXT_LIMIT))
        return
    draft = (await state.get_data()).get(DRAFT)
    if not draft or draft.get("kind") != BROADCAST:
        await leave_dialog(state)
        await message.answer(t("manager.stale"))
        return
    draft["text"] = text
    await state.update_data({DRAFT: draft})
    await state.set_state(None)
    await show_panel(message, session, draft, t, catalogue.view, bot)


async def msg_measure(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    draft = (await state.get_data()).get(DRAFT)
    if not draft:
        await leave_dialog(state)
        await message.answer(t("manager.stale"))
        return
    value = (message.text or "").strip()
    if value in ("-", "—"):
        draft["measure"] = None
    else:
        measure = catalogue.view.measures.get(value)
        if measure is None or measure.region not in (None, draft["region"]):
            await message.answer(t("manager.broadcast.unknown_measure", value=escape(value[:64])))
            return
        draft["measure"] = measure.id
    await state.update_data({DRAFT: draft})
    await state.set_state(None)
    await show_panel(message, session, draft, t, catalogue.view, bot)


# --- /survey -------------------------------------------------------------------------------


async def cmd_survey(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    surveys = await news.region_surveys(session, region)
    kb = Keyboard()
    for survey in surveys:
        kb.button(
            text=short(f"№{survey.id} · {survey.question}"),
            callback_data=SurveyCD(action=SurveyAction.VIEW, survey=survey.id),
        )
    kb.adjust(1)
    await state.set_state(NewsStates.survey_question)
    await state.update_data({DRAFT: {"kind": SURVEY, "region": region}})
    await message.answer(
        t("manager.survey.ask_question", limit=news.QUESTION_LIMIT, region=region)
        + ("\n\n" + t("manager.survey.recent") if surveys else ""),
        reply_markup=kb.as_markup() if surveys else None,
    )


async def msg_survey_question(message: Message, state: FSMContext, t: Translator) -> None:
    question = (message.text or "").strip()
    if len(question) > news.QUESTION_LIMIT:
        await message.answer(t("manager.too_long", limit=news.QUESTION_LIMIT))
        return
    draft = (await state.get_data()).get(DRAFT)
    if not draft or draft.get("kind") != SURVEY:
        await leave_dialog(state)
        await message.answer(t("manager.stale"))
        return
    draft["question"] = question
    await state.update_data({DRAFT: draft})
    await state.set_state(NewsStates.survey_options)
    await message.answer(
        t(
            "manager.survey.ask_options",
            min=news.MIN_OPTIONS,
            max=news.MAX_OPTIONS,
            limit=news.OPTION_LIMIT,
        )
    )


async def msg_survey_options(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    options = [line.strip() for line in (message.text or "").splitlines() if line.strip()]
    if (
        not news.MIN_OPTIONS <= len(options) <= news.MAX_OPTIONS
        or any(len(option) > news.OPTION_LIMIT for option in options)
        or len(set(options)) != len(options)
    ):
        await message.answer(
            t(
                "manager.survey.bad_options",
                min=news.MIN_OPTIONS,
                max=news.MAX_OPTIONS,
                limit=news.OPTION_LIMIT,
            )
        )
        return
    draft = (await state.get_data()).get(DRAFT)
    if not draft or draft.get("kind") != SURVEY or not draft.get("question"):
        await leave_dialog(state)
        await message.answer(t("manager.stale"))
        return
    draft["options"] = options
    await state.update_data({DRAFT: draft})
    await state.set_state(None)
    await show_panel(message, session, draft, t, catalogue.view, bot)


# --- draft buttons: one handler each, for a draft that is ready and the manager's -----------


class ReadyDraft(Filter):
    """The draft of this chat, as `draft`, once it has its text or options and the manager
    still manages its region; otherwise the button reaches `cb_draft_refused`."""

    async def __call__(
        self, query: CallbackQuery, state: FSMContext, access: ManagerAccess | None = None
    ) -> bool | dict[str, Any]:
        draft = (await state.get_data()).get(DRAFT)
        if not isinstance(draft, dict) or not (draft.get("text") or draft.get("options")):
            return False
        if access is None or not access.can(draft["region"]):
            return False
        return {"draft": draft}


async def cb_draft_refused(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    access: ManagerAccess,
    t: Translator,
) -> None:
    draft = (await state.get_data()).get(DRAFT)
    if not isinstance(draft, dict) or not (draft.get("text") or draft.get("options")):
        alert(callback_answer, t("manager.stale"))
    else:
        alert(callback_answer, t("manager.forbidden"))


async def cb_draft_needs(
    query: CallbackQuery, message: Message, t: Translator, catalogue: CatalogueHolder
) -> None:
    kb = Keyboard()
    kb.button(
        text=t("manager.draft.any_need"),
        callback_data=DraftCD(action=DraftAction.NEED, value=ANY),
    )
    for index, need in enumerate(catalogue.view.needs.values()):
        title = t.pick(need.title, need.title_en)
        kb.button(
            text=short(f"{need.emoji} {title}".strip()),
            callback_data=DraftCD(action=DraftAction.NEED, value=str(index)),
        )
    kb.adjust(1, *([2] * 20))
    await message.edit_reply_markup(reply_markup=kb.as_markup())


async def cb_draft_municipalities(
    query: CallbackQuery,
    draft: dict[str, Any],
    message: Message,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = catalogue.view.regions.get(draft["region"])
    kb = Keyboard()
    kb.button(
        text=t("manager.draft.whole_region"),
        callback_data=DraftCD(action=DraftAction.MUNICIPALITY, value=ANY),
    )
    for index, mun in enumerate(region.municipalities if region else []):
        kb.button(
            text=short(t.pick(mun.name, mun.name_en)),
            callback_data=DraftCD(action=DraftAction.MUNICIPALITY, value=str(index)),
        )
    kb.adjust(1, *([2] * 50))
    await message.edit_reply_markup(reply_markup=kb.as_markup())


async def cb_draft_need(
    query: CallbackQuery,
    draft: dict[str, Any],
    callback_data: DraftCD,
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    draft["need"] = _pick(callback_data.value, list(view.needs))
    await state.update_data({DRAFT: draft})
    await show_panel(message, session, draft, t, view, bot, edit=True)


async def cb_draft_municipality(
    query: CallbackQuery,
    draft: dict[str, Any],
    callback_data: DraftCD,
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    region = view.regions.get(draft["region"])
    muns = [m.id for m in region.municipalities] if region else []
    draft["mun"] = _pick(callback_data.value, muns)
    await state.update_data({DRAFT: draft})
    await show_panel(message, session, draft, t, view, bot, edit=True)


async def cb_draft_measure(
    query: CallbackQuery, message: Message, state: FSMContext, t: Translator
) -> None:
    await state.set_state(NewsStates.measure)
    await message.answer(t("manager.broadcast.ask_measure"))


async def cb_draft_panel(
    query: CallbackQuery,
    draft: dict[str, Any],
    message: Message,
    bot: Bot,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await show_panel(message, session, draft, t, catalogue.view, bot, edit=True)


async def cb_draft_cancel(
    query: CallbackQuery, message: Message, state: FSMContext, t: Translator
) -> None:
    await leave_dialog(state)
    await message.edit_text(t("manager.draft.cancelled"))


def _pick(value: str, ids: list[str]) -> str | None:
    if value == ANY:
        return None
    try:
        index = int(value)
    except ValueError:
        return None
    return ids[index] if 0 <= index < len(ids) else None


async def cb_draft_send(
    query: CallbackQuery,
    draft: dict[str, Any],
    message: Message,
    callback_answer: CallbackAnswer,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    audience = draft_audience(draft)
    size = await news.audience_size(session, view, audience)
    if size.reachable == 0:
        alert(callback_answer, t("manager.draft.nobody"))
        return
    # The draft goes first: a second press finds nothing to send.
    await leave_dialog(state)
    await message.edit_reply_markup(reply_markup=None)
    if draft["kind"] == SURVEY:
        survey = await news.create_survey(
            session,
            clock,
            view=view,
            audience=audience,
            question=draft["question"],
            options=draft["options"],
            created_by_user_id=access.user_id,
        )
        kb = Keyboard()
        kb.button(
            text=t("manager.survey.results_button"),
            callback_data=SurveyCD(action=SurveyAction.VIEW, survey=survey.id),
        )
        await message.answer(
            t.plural("manager.survey.sent", survey.recipients, id=survey.id),
            reply_markup=kb.as_markup(),
        )
        return
    measure = view.measures.get(draft.get("measure") or "")
    link = None
    if measure is not None:
        me = await bot.me()
        link = news.MeasureLink(
            measure.id,
            measure_link(me.username, measure.id, channel_of(bot)),
            measure.title,
            measure.title_en,
        )
    broadcast = await news.create_broadcast(
        session,
        clock,
        view=view,
        audience=audience,
        text=draft["text"],
        measure=link,
        created_by_user_id=access.user_id,
        report_chat_id=message.chat.id,
    )
    progress = await message.answer(
        t.plural(
            "manager.broadcast.queued",
            broadcast.recipients,
            id=broadcast.id,
            blocked=broadcast.skipped_blocked,
        )
    )
    await news.set_progress_message(session, broadcast.id, message.chat.id, progress.message_id)


# --- survey results (manager) --------------------------------------------------------------


def results_text(result: news.SurveyResult, t: Translator) -> str:
    lines = []
    for text, count in result.options:
        share = round(100 * count / result.answers) if result.answers else 0
        lines.append(
            t("manager.survey.result_line", option=escape(text), count=count, share=share)
        )
    return t(
        "manager.survey.results",
        id=result.id,
        question=escape(result.question),
        lines="\n".join(lines),
        answers=result.answers,
        recipients=result.recipients,
        status=t("manager.survey.closed" if result.closed else "manager.survey.open"),
    )


async def cb_survey_results(
    query: CallbackQuery,
    callback_data: SurveyCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
) -> None:
    survey = await session.get(Survey, callback_data.survey)
    if survey is None or not access.can(survey.region_code):
        alert(callback_answer, t("manager.forbidden"))
        return
    if callback_data.action is SurveyAction.CLOSE:
        await news.close_survey(session, clock, survey.id)
        await session.refresh(survey)
    result = await news.survey_result(session, survey)
    kb = Keyboard()
    kb.button(
        text=t("manager.survey.refresh"),
        callback_data=SurveyCD(action=SurveyAction.VIEW, survey=survey.id),
    )
    if not result.closed:
        kb.button(
            text=t("manager.survey.close"),
            callback_data=SurveyCD(action=SurveyAction.CLOSE, survey=survey.id),
        )
    await message.answer(results_text(result, t), reply_markup=kb.as_markup())


class NotCommand(Filter):
    async def __call__(self, message: Message) -> bool:
        return not (message.text or "").startswith("/")


_DRAFT_BUTTONS: dict[Any, ButtonHandler] = {
    DraftAction.NEEDS: cb_draft_needs,
    DraftAction.MUNICIPALITIES: cb_draft_municipalities,
    DraftAction.NEED: cb_draft_need,
    DraftAction.MUNICIPALITY: cb_draft_municipality,
    DraftAction.MEASURE: cb_draft_measure,
    DraftAction.PANEL: cb_draft_panel,
    DraftAction.CANCEL: cb_draft_cancel,
    DraftAction.SEND: cb_draft_send,
}


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): every handler gets `access`."""
    router = leaving_dialogs(Router(name=__name__))
    typed = (F.text, NotCommand())
    router.message.register(cmd_broadcast, Command("broadcast"), flags=LEAVES_DIALOG)
    router.message.register(cmd_survey, Command("survey"), flags=LEAVES_DIALOG)
    router.message.register(msg_broadcast_text, StateFilter(NewsStates.broadcast_text), *typed)
    router.message.register(msg_measure, StateFilter(NewsStates.measure), *typed)
    router.message.register(msg_survey_question, StateFilter(NewsStates.survey_question), *typed)
    router.message.register(msg_survey_options, StateFilter(NewsStates.survey_options), *typed)
    ready = ReadyDraft()
    for action, handler in _DRAFT_BUTTONS.items():
        router.callback_query.register(handler, DraftCD.filter(F.action == action), ready, shown)
    router.callback_query.register(cb_draft_refused, DraftCD.filter(), shown)
    router.callback_query.register(cb_survey_results, SurveyCD.filter(), shown)
    return router
