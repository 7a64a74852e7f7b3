"""Buttons of «Мой план»: the callback data and the keyboards other screens borrow (the
measure card's «В мой план», the screener's «Отметить меры в плане»).

Kept apart from handlers/plan.py so the card and the screener can import them without
importing the plan's handlers (which use the card's helpers).
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.catalogue.schema import Measure
from core.plan.marks import CHECKLIST_STATUSES, STATUS_ORDER, documents
from core.texts import Translator, ellipsize
from db.enums import PlanStatus
from handlers.keyboards import inline_button, layout

# Documents and measures are named on buttons: Telegram cuts long labels badly.
LABEL = 56


class PlanAction(StrEnum):
    ASK = "a"  # which status? (from a card or the screener's list)
    SET = "s"  # set the status chosen in the picker
    LIST = "l"  # the screener's results as a list to pick a measure from
    OPEN = "o"  # one measure of the plan: its checklist and statuses
    STATUS = "t"  # change the status from that view
    DOC = "d"  # tick or untick a document there


class PlanCD(CallbackData, prefix="pl"):
    """Ids only; the handler reads the family's item from the database (64-byte limit)."""

    a: PlanAction
    m: str = ""
    v: str = ""


def add_button(measure: Measure, t: Translator) -> InlineKeyboardButton:
    """The card's «📋 В мой план»."""
    return inline_button(t("plan.button.add"), PlanCD(a=PlanAction.ASK, m=measure.id))


def mark_results_button(t: Translator) -> InlineKeyboardButton:
    return inline_button(t("plan.button.mark_results"), PlanCD(a=PlanAction.LIST))


def _status_buttons(
    measure_id: str, current: PlanStatus | None, action: PlanAction, t: Translator
) -> list[InlineKeyboardButton]:
    return [
        inline_button(
            ("• " if status is current else "") + t(f"plan.button.{status.value}"),
            PlanCD(a=action, m=measure_id, v=status.value),
        )
        for status in STATUS_ORDER
    ]


def status_picker(
    measure_id: str, current: PlanStatus | None, t: Translator
) -> InlineKeyboardMarkup:
    buttons = _status_buttons(measure_id, current, PlanAction.SET, t)
    return InlineKeyboardMarkup(inline_keyboard=layout(buttons, 2))


def item_keyboard(
    measure: Measure, status: PlanStatus, done: set[int] | frozenset[int], t: Translator
) -> InlineKeyboardMarkup:
    """A document per row (☐/☑) while the checklist is open, then the statuses."""
    rows: list[list[InlineKeyboardButton]] = []
    if status in CHECKLIST_STATUSES:
        for position, document in enumerate(documents(measure, t.lang)):
            box = "☑" if position in done else "☐"
            rows.append(
                [
                    inline_button(
                        f"{box} {ellipsize(document, LABEL)}",
                        PlanCD(a=PlanAction.DOC, m=measure.id, v=str(position)),
                    )
                ]
            )
    rows.extend(layout(_status_buttons(measure.id, status, PlanAction.STATUS, t), 2))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def manage_buttons(measures: list[Measure], t: Translator) -> list[InlineKeyboardButton]:
    """Under /plan: one button per measure, to tick its documents or change its status."""
    return [
        inline_button(
            t("plan.button.manage", title=ellipsize(t.pick(m.title, m.title_en), LABEL)),
            PlanCD(a=PlanAction.OPEN, m=m.id),
        )
        for m in measures
    ]


def pick_buttons(measures: list[Measure], t: Translator) -> list[InlineKeyboardButton]:
    return [
        inline_button(
            ellipsize(t.pick(m.title, m.title_en), LABEL), PlanCD(a=PlanAction.ASK, m=m.id)
        )
        for m in measures
    ]
