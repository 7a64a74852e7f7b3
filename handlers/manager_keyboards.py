"""Callback data of the manager's toolkit, and the keyboards of its queued notifications.

Callback data carries ids only; every handler re-reads the organisation, survey or import
from the DB and re-checks the presser's role and region before it changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from core.announcements import BROADCAST, BROADCAST_MEASURE, SURVEY
from core.manager_tools import VERIFY_ASK, VERIFY_OUTDATED
from core.texts import Translator
from handlers.keyboards import Keyboard

BUTTON_LIMIT = 60


def short(text: str, limit: int = BUTTON_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OrgAction(StrEnum):
    LIST = "l"
    OPEN = "o"
    NEEDS = "n"
    NEED = "nt"
    MUNICIPALITIES = "m"
    MUNICIPALITY = "mt"
    CAPACITY = "c"
    CONTACTS = "k"
    CONTACT = "kf"
    MEMBERS = "p"
    REMOVE = "pr"
    REMOVE_OK = "py"
    DEACTIVATE = "d"
    DEACTIVATE_OK = "dy"
    ACTIVATE = "a"
    INVITE = "i"
    ADD = "+"
    ADD_NEED = "+n"


class OrgCD(CallbackData, prefix="mo"):
    action: OrgAction
    org: str = ""
    value: str = ""


class InviteCD(CallbackData, prefix="mi"):
    org: str
    role: str = ""


class ImportAction(StrEnum):
    ASK = "r"
    CONFIRM = "y"
    DISMISS = "x"


class ImportCD(CallbackData, prefix="mx"):
    action: ImportAction
    import_id: int


class DraftAction(StrEnum):
    NEEDS = "n"
    NEED = "ns"
    MUNICIPALITIES = "m"
    MUNICIPALITY = "ms"
    MEASURE = "a"
    PANEL = "p"
    SEND = "s"
    CANCEL = "x"


class DraftCD(CallbackData, prefix="md"):
    """A button of a broadcast or survey draft; the draft itself is in the FSM data."""

    action: DraftAction
    value: str = ""


class SurveyAction(StrEnum):
    VIEW = "v"
    CLOSE = "c"


class SurveyCD(CallbackData, prefix="ms"):
    action: SurveyAction
    survey: int


class SurveyAnswerCD(CallbackData, prefix="sv"):
    survey: int
    option: int


class VerifyCD(CallbackData, prefix="mv"):
    org: str
    answer: str


class NewsAction(StrEnum):
    ON = "1"
    OFF = "0"
    UNSUBSCRIBE = "u"


class NewsCD(CallbackData, prefix="nw"):
    action: NewsAction


def survey_keyboard(
    survey_id: int, options: list[str], chosen: int | None = None
) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for index, option in enumerate(options):
        mark = "✅ " if index == chosen else ""
        kb.button(
            text=short(f"{mark}{option}"),
            callback_data=SurveyAnswerCD(survey=survey_id, option=index),
        )
    kb.adjust(1)
    return kb.as_markup()


def verify_keyboard(org_id: str, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    kb.button(text=t("manager.verify.yes"), callback_data=VerifyCD(org=org_id, answer="y"))
    kb.button(text=t("manager.verify.no"), callback_data=VerifyCD(org=org_id, answer="n"))
    return kb.as_markup()


def notification_keyboard(
    kind: str, params: Mapping[str, Any], t: Translator
) -> InlineKeyboardMarkup | None:
    """Keyboards of `manager_tools.*` notifications; NotificationRenderer returns this.

    Takes the raw (unescaped) params: button labels are not HTML.
    """
    if kind == SURVEY:
        options = [str(option) for option in params.get("options") or []]
        return survey_keyboard(int(params["survey"]), options)
    if kind == VERIFY_ASK:
        return verify_keyboard(str(params["organization"]), t)
    if kind == VERIFY_OUTDATED:
        kb = Keyboard()
        kb.button(
            text=t("manager.verify.open_org"),
            callback_data=OrgCD(action=OrgAction.OPEN, org=str(params["organization"])),
        )
        return kb.as_markup()
    if kind in (BROADCAST, BROADCAST_MEASURE):
        kb = Keyboard()
        kb.button(
            text=t("manager.news.unsubscribe"),
            callback_data=NewsCD(action=NewsAction.UNSUBSCRIBE),
        )
        return kb.as_markup()
    return None
