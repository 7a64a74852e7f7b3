"""/news and survey answers (families), and the coordinators' answer to "is your entry still
accurate?": the receiving side of the manager's announcements (handlers/manager/announcements.py).

No manager gate here: each handler checks the presser itself.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import Viewer
from core import announcements as news
from core import manager_tools as tools
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.manager_tools import VerifyOutcome
from core.texts import Translator
from db.models.manager import Survey
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.keyboards import Keyboard
from handlers.manager_keyboards import (
    NewsAction,
    NewsCD,
    SurveyAnswerCD,
    VerifyCD,
    survey_keyboard,
)
from handlers.render import alert, format_date


def news_keyboard(subscribed: bool, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    if subscribed:
        kb.button(text=t("manager.news.turn_off"), callback_data=NewsCD(action=NewsAction.OFF))
    else:
        kb.button(text=t("manager.news.turn_on"), callback_data=NewsCD(action=NewsAction.ON))
    return kb.as_markup()


async def cmd_news(message: Message, viewer: Viewer, session: AsyncSession, t: Translator) -> None:
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


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_news, Command("news"), flags=LEAVES_DIALOG)
    router.callback_query.register(cb_news, NewsCD.filter())
    router.callback_query.register(cb_survey_answer, SurveyAnswerCD.filter())
    router.callback_query.register(cb_verify, VerifyCD.filter())
    return router
