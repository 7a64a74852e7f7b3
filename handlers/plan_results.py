"""The plan in other screens: the screener's results show what the family already receives
apart («уже получаете») instead of offering it again and get a button to mark measures; a
card shows the application deadline, dated for the family when its answers allow."""

from __future__ import annotations

import datetime as dt
from html import escape

from aiogram.types import InlineKeyboardMarkup

from core.catalogue.active import CatalogueView
from core.catalogue.schema import Measure
from core.plan.deadlines import deadline_of, describe_deadline, describe_rule
from core.screener import FamilyProfile
from core.texts import Translator
from handlers.plan_keyboards import mark_results_button


def already_yours(receiving: list[str], view: CatalogueView, t: Translator) -> str:
    """A paragraph to append to the results; empty when the family receives nothing."""
    titles = [
        t.pick(view.measures[m].title, view.measures[m].title_en)
        for m in receiving
        if m in view.measures
    ]
    if not titles:
        return ""
    lines = [t("plan.already_yours")]
    lines.extend(t("plan.already_line", title=escape(title)) for title in titles)
    return "\n\n" + "\n".join(lines)


def with_plan_button(keyboard: InlineKeyboardMarkup, t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[*keyboard.inline_keyboard, [mark_results_button(t)]]
    )


def card_deadline(
    measure: Measure, profile: FamilyProfile | None, t: Translator, today: dt.date
) -> str | None:
    """The card's deadline line: the rule, and the family's own date when its answers give one
    («в течение 6 месяцев после рождения — подать до 15 апреля 2027»)."""
    rule = describe_rule(measure, t)
    if rule is None:
        return None
    deadline = deadline_of(measure, profile, today)
    text = rule if deadline is None else f"{rule} — {describe_deadline(deadline, t, today)}"
    return t("plan.card_deadline", text=escape(text, quote=False))
