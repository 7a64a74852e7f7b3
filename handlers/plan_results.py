"""The screener's results and the plan: what the family already receives is shown apart
(«уже получаете») instead of being offered again, and a button marks measures in the plan."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardMarkup

from core.catalogue.active import CatalogueView
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
