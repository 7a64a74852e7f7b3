"""The results of /find: fitting measures grouped by need, and why the others do not fit."""

from __future__ import annotations

from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.screener import FamilyProfile, MeasureVerdict, Verdict, render_reason, screen
from core.texts import Translator
from handlers.cards import measure_button
from handlers.dialogs import SESSION_PROFILE
from handlers.find.questions import FindCD
from handlers.keyboards import inline_button, markup
from handlers.render import alert, send_long


def render_results(
    verdicts: list[MeasureVerdict], view: CatalogueView, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    ru = t.lang == "ru"
    fitting = [v for v in verdicts if v.verdict is not Verdict.NOT_ELIGIBLE]
    rejected = [v for v in verdicts if v.verdict is Verdict.NOT_ELIGIBLE]
    eligible = sum(1 for v in fitting if v.verdict is Verdict.ELIGIBLE)
    lines = [
        t("find.results_title"),
        t("find.results_counts", eligible=eligible, maybe=len(fitting) - eligible),
    ]
    # Each measure once, under its main need; needs ordered by their best measure.
    groups: dict[str, list[MeasureVerdict]] = {}
    for verdict in fitting:
        groups.setdefault(view.measures[verdict.measure_id].needs[0], []).append(verdict)
    buttons: list[InlineKeyboardButton] = []
    for need_id, group in groups.items():
        need = view.needs.get(need_id)
        lines.append("")
        if need is not None:
            lines.append(
                t(
                    "find.need_header",
                    emoji=need.emoji,
                    title=escape(need.title if ru else need.title_en),
                )
            )
        for verdict in group:
            measure = view.measures[verdict.measure_id]
            title = escape(measure.title if ru else measure.title_en)
            if verdict.verdict is Verdict.ELIGIBLE:
                lines.append(t("find.line_eligible", title=title))
            else:
                unknown = next((r for r in verdict.reasons if r.met is None), None)
                reason = escape(render_reason(unknown, t)) if unknown else ""
                lines.append(t("find.line_maybe", title=title, reason=reason))
            label, data = measure_button(measure, t)
            mark = "✅" if verdict.verdict is Verdict.ELIGIBLE else "❓"
            buttons.append(inline_button(f"{mark} {label}", data))
    lines.append("")
    lines.append(t("find.results_hint"))
    if rejected:
        buttons.append(
            inline_button(
                t("find.why_not", count=len(rejected)), FindCD(step="why_not", value="1")
            )
        )
    return "\n".join(lines), markup(buttons, 1)


async def cb_why_not(
    query: CallbackQuery,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    data = (await state.get_data()).get(SESSION_PROFILE)
    if not data:
        alert(callback_answer, t("fallback.stale_button"))
        return
    view = catalogue.view
    profile = FamilyProfile.model_validate(data)
    rejected = [
        v
        for v in screen(view.measures.values(), profile, view.regions, clock.now().date())
        if v.verdict is Verdict.NOT_ELIGIBLE
    ]
    lines = [t("find.why_not_title"), ""]
    for verdict in rejected:
        measure = view.measures[verdict.measure_id]
        failing = next((r for r in verdict.reasons if r.met is False), None)
        lines.append(
            t(
                "find.why_not_line",
                title=escape(t.pick(measure.title, measure.title_en)),
                reason=escape(render_reason(failing, t)) if failing else "",
            )
        )
    await send_long(message, "\n".join(lines), parse_mode="HTML")
