"""Announcements: /broadcast and /survey (managers), /news and survey answers (families), and
the coordinators' answer to "is your entry still accurate?".

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
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.channels import channel_of
from bot.deeplinks import start_link
from bot.middlewares.viewer import Viewer
from core import announcements as news
from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.manager_tools import ManagerAccess, VerifyOutcome
from core.texts import Translator
from db.enums import Channel
from db.models.manager import Survey
from handlers.dialogs import leave_dialog
from handlers.keyboards import Keyboard
from handlers.manager_keyboards import (
    DraftAction,
    DraftCD,
    NewsAction,
    NewsCD,
    SurveyAction,
    SurveyAnswerCD,
    SurveyCD,
    VerifyCD,
    short,
    survey_keyboard,
)
from handlers.manager_region import pick_region
from handlers.render import alert, format_date

BROADCAST, SURVEY = "b", "s"
DRAFT = "mgr_draft"
ANY = "-"


class NewsStates(StatesGroup):
    broadcast_text = State()
    measure = State()
    survey_question = State()
    survey_options = State()


def measure_link(
    username: str | None, measure_id: str, channel: Channel = Channel.TELEGRAM
) -> str:
    return start_link(channel, username, f"m-{measure_id}")


# --- the draft panel -----------------------------------------------------------------------


def _need_label(view: CatalogueView, need_id: str | None, t: Translator) -> str:
    need = view.needs.get(need_id or "")
    if need is None:
        return t("manager.draft.any_need")
    return t.pick(need.title, need.title_en)


def _municipality_label(view: CatalogueView, mun_id: str | None, t: Translator) -> str:
    mun = view.municipality(mun_id)
    if mun is None:
        return t("manager.draft.whole_region")
    return t.pick(mun.name, mun.name_en)


def _preview(draft: dict[str, Any], t: Translator, view: CatalogueView, username: str) -> str:
    if draft["kind"] == SURVEY:
        options = "\n".join(f"▫️ {escape(option)}" for option in draft.get("options") or [])
        return t("notify.manager_tools.survey", question=escape(draft["question"])) + (
            "\n" + options if options else ""
        )
    measure = view.measures.get(draft.get("measure") or "")
    if measure is None:
        return t("notify.manager_tools.broadcast", text=escape(draft["text"]))
    return t(
        "notify.manager_tools.broadcast_measure",
        text=escape(draft["text"]),
        link=escape(measure_link(username, measure.id)),
        title=escape(t.pick(measure.title, measure.title_en)),
    )


def _audience(draft: dict[str, Any]) -> news.Audience:
    return news.Audience(draft["region"], draft.get("need"), draft.get("mun"))


async def render_panel(
    session: AsyncSession, draft: dict[str, Any], t: Translator, view: CatalogueView, bot: Bot
) -> tuple[str, InlineKeyboardMarkup]:
    size = await news.audience_size(session, view, _audience(draft))
    me = await bot.me()
    measure = view.measures.get(draft.get("measure") or "")
    text = t(
        "manager.draft.panel",
        preview=_preview(draft, t, view, me.username or ""),
        region=escape(draft["region"]),
        need=escape(_need_label(view, draft.get("need"), t)),
        municipality=escape(_municipality_label(view, draft.get("mun"), t)),
        measure=escape(t.pick(measure.title, measure.title_en) if measure else "—"),
        reachable=t.number(size.reachable),
        blocked=t.number(size.blocked),
    )
    kb = Keyboard()
    kb.button(
        text=t("manager.draft.filter_need", need=_need_label(view, draft.get("need"), t)),
        callback_data=DraftCD(action=DraftAction.NEEDS),
    )
    kb.button(
        text=short(
            t(
                "manager.draft.filter_municipality",
                municipality=_municipality_label(view, draft.get("mun"), t),
            )
        ),
        callback_data=DraftCD(action=DraftAction.MUNICIPALITIES),
    )
    if draft["kind"] == BROADCAST:
        kb.button(
            text=t("manager.draft.attach"), callback_data=DraftCD(action=DraftAction.MEASURE)
        )
    kb.button(
        text=t("manager.draft.send", count=t.number(size.reachable)),
        callback_data=DraftCD(action=DraftAction.SEND),
    )
    kb.button(text=t("manager.cancel"), callback_data=DraftCD(action=DraftAction.CANCEL))
    kb.adjust(1)
    return text, kb.as_markup()


async def _show_panel(
    message: Message,
    session: AsyncSession,
    draft: dict[str, Any],
    t: Translator,
    view: CatalogueView,
    bot: Bot,
    *,
    edit: bool = False,
) -> None:
    text, keyboard = await render_panel(session, draft, t, view, bot)
    if edit:
        await message.edit_text(text, reply_markup=keyboard)
    else:
        await message.answer(text, reply_markup=keyboard)


# --- /broadcast ----------------------------------------------------------------------------


async def cmd_broadcast(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
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
    await _show_panel(message, session, draft, t, catalogue.view, bot)


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
    await _show_panel(message, session, draft, t, catalogue.view, bot)


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
    await leave_dialog(state)
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
    await _show_panel(message, session, draft, t, catalogue.view, bot)


# --- draft buttons -------------------------------------------------------------------------


async def cb_draft(
    query: CallbackQuery,
    callback_data: DraftCD,
    callback_answer: CallbackAnswer,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    app: App,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    view = catalogue.view
    draft = (await state.get_data()).get(DRAFT)
    ready = draft and (draft.get("text") or draft.get("options"))
    if not draft or not ready:
        alert(callback_answer, t("manager.stale"))
        return
    if not access.can(draft["region"]):
        alert(callback_answer, t("manager.forbidden"))
        return
    action = callback_data.action
    if action is DraftAction.NEEDS:
        kb = Keyboard()
        kb.button(
            text=t("manager.draft.any_need"),
            callback_data=DraftCD(action=DraftAction.NEED, value=ANY),
        )
        for index, need in enumerate(view.needs.values()):
            title = t.pick(need.title, need.title_en)
            kb.button(
                text=short(f"{need.emoji} {title}".strip()),
                callback_data=DraftCD(action=DraftAction.NEED, value=str(index)),
            )
        kb.adjust(1, *([2] * 20))
        await message.edit_reply_markup(reply_markup=kb.as_markup())
    elif action is DraftAction.MUNICIPALITIES:
        region = view.regions.get(draft["region"])
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
    elif action is DraftAction.NEED:
        needs = list(view.needs)
        draft["need"] = _pick(callback_data.value, needs)
        await state.update_data({DRAFT: draft})
        await _show_panel(message, session, draft, t, view, bot, edit=True)
    elif action is DraftAction.MUNICIPALITY:
        region = view.regions.get(draft["region"])
        muns = [m.id for m in region.municipalities] if region else []
        draft["mun"] = _pick(callback_data.value, muns)
        await state.update_data({DRAFT: draft})
        await _show_panel(message, session, draft, t, view, bot, edit=True)
    elif action is DraftAction.MEASURE:
        await state.set_state(NewsStates.measure)
        await message.answer(t("manager.broadcast.ask_measure"))
    elif action is DraftAction.PANEL:
        await _show_panel(message, session, draft, t, view, bot, edit=True)
    elif action is DraftAction.CANCEL:
        await leave_dialog(state)
        await message.edit_text(t("manager.draft.cancelled"))
    elif action is DraftAction.SEND:
        await _send(
            message, callback_answer, bot, state, session, access, clock, app, t, view, draft
        )


def _pick(value: str, ids: list[str]) -> str | None:
    if value == ANY:
        return None
    try:
        index = int(value)
    except ValueError:
        return None
    return ids[index] if 0 <= index < len(ids) else None


async def _send(
    message: Message,
    callback_answer: CallbackAnswer,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    app: App,
    t: Translator,
    view: CatalogueView,
    draft: dict[str, Any],
) -> None:
    audience = _audience(draft)
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
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
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


# --- families: /news and answers -----------------------------------------------------------


def news_keyboard(subscribed: bool, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    if subscribed:
        kb.button(text=t("manager.news.turn_off"), callback_data=NewsCD(action=NewsAction.OFF))
    else:
        kb.button(text=t("manager.news.turn_on"), callback_data=NewsCD(action=NewsAction.ON))
    return kb.as_markup()


async def cmd_news(
    message: Message, state: FSMContext, viewer: Viewer, session: AsyncSession, t: Translator
) -> None:
    await leave_dialog(state)
    if not viewer.consented or viewer.user is None:
        await message.answer(t("manager.news.need_consent"))
        return
    subscribed = await news.news_subscribed(session, viewer.user.id)
    await message.answer(
        t("manager.news.status_on" if subscribed else "manager.news.status_off"),
        reply_markup=news_keyboard(subscribed, t),
    )


async def cb_news(
    query: CallbackQuery,
    callback_data: NewsCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
) -> None:
    message = query.message
    if not viewer.consented or viewer.user is None:
        alert(callback_answer, t("manager.news.need_consent"))
        return
    subscribe = callback_data.action is NewsAction.ON
    await news.set_news(session, clock, viewer.user.id, subscribe)
    if callback_data.action is NewsAction.UNSUBSCRIBE:
        alert(callback_answer, t("manager.news.unsubscribed"))
        return
    if isinstance(message, Message):
        await message.edit_text(
            t("manager.news.status_on" if subscribe else "manager.news.status_off"),
            reply_markup=news_keyboard(subscribe, t),
        )


async def cb_survey_answer(
    query: CallbackQuery,
    callback_data: SurveyAnswerCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if viewer.user is None:
        alert(callback_answer, t("manager.survey.not_for_you"))
        return
    outcome = await news.answer_survey(
        session,
        clock,
        view=catalogue.view,
        survey_id=callback_data.survey,
        option=callback_data.option,
        user=viewer.user,
    )
    if outcome is news.AnswerOutcome.FORBIDDEN:
        alert(callback_answer, t("manager.survey.not_for_you"))
        return
    if outcome is news.AnswerOutcome.CLOSED:
        alert(callback_answer, t("manager.survey.is_closed"))
        return
    callback_answer.text = t(
        "manager.survey.thanks"
        if outcome is news.AnswerOutcome.SAVED
        else "manager.survey.changed"
    )
    survey = await session.get(Survey, callback_data.survey)
    if survey is not None and isinstance(query.message, Message):
        await query.message.edit_reply_markup(
            reply_markup=survey_keyboard(survey.id, list(survey.options), callback_data.option)
        )


# --- coordinators: "is your entry still accurate?" -----------------------------------------


async def cb_verify(
    query: CallbackQuery,
    callback_data: VerifyCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    app: App,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if viewer.user is None:
        alert(callback_answer, t("manager.forbidden"))
        return
    outcome = await tools.answer_verification(
        session,
        clock,
        org_id=callback_data.org,
        user=viewer.user,
        accurate=callback_data.answer == "y",
        view=catalogue.view,
    )
    if outcome is VerifyOutcome.FORBIDDEN:
        alert(callback_answer, t("manager.forbidden"))
        return
    message = query.message
    if outcome is VerifyOutcome.CONFIRMED:
        await catalogue.refresh()
        org = catalogue.view.organizations.get(callback_data.org)
        reply = t(
            "manager.verify.confirmed",
            date=format_date(org.verified_on, t.lang) if org else "—",
        )
    else:
        reply = t("manager.verify.reported")
    if isinstance(message, Message):
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(reply)


class NotCommand(Filter):
    async def __call__(self, message: Message) -> bool:
        return not (message.text or "").startswith("/")


def create_router(gate: Filter) -> Router:
    router = Router(name=__name__)
    typed = (F.text, NotCommand(), gate)
    router.message.register(cmd_broadcast, Command("broadcast"), gate)
    router.message.register(cmd_survey, Command("survey"), gate)
    router.message.register(msg_broadcast_text, StateFilter(NewsStates.broadcast_text), *typed)
    router.message.register(msg_measure, StateFilter(NewsStates.measure), *typed)
    router.message.register(msg_survey_question, StateFilter(NewsStates.survey_question), *typed)
    router.message.register(msg_survey_options, StateFilter(NewsStates.survey_options), *typed)
    router.callback_query.register(cb_draft, DraftCD.filter(), gate)
    router.callback_query.register(cb_survey_results, SurveyCD.filter(), gate)
    # Families and coordinators: no manager gate; each handler checks the presser itself.
    router.message.register(cmd_news, Command("news"))
    router.callback_query.register(cb_news, NewsCD.filter())
    router.callback_query.register(cb_survey_answer, SurveyAnswerCD.filter())
    router.callback_query.register(cb_verify, VerifyCD.filter())
    return router
