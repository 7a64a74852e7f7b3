"""Measure and organisation cards, the `/start m-<id>` deep link, and "was it helpful?"."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deeplinks import bot_start_link
from bot.middlewares.viewer import Viewer
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.catalogue.schema import CheckState, Measure, Organization
from core.clock import Clock
from core.screener import FamilyProfile, evaluate, render_reason, render_verdict
from core.search import discovery
from core.search.discovery import MeasureFeedbackReason, MeasureVerdictFeedback
from core.texts import Translator, typeset_numbers
from handlers.dialogs import LEAVES_DIALOG, SESSION_PROFILE, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import inline_button, markup
from handlers.render import alert, format_date, send_long
from handlers.requests import ask_help_button

# FSM key: the feedback answer that a following reason belongs to.
LAST_FEEDBACK = "last_feedback"


class CardAction(StrEnum):
    MEASURE = "m"
    ORGANIZATION = "o"
    FEEDBACK = "f"
    REASON = "r"


class CardCD(CallbackData, prefix="card"):
    action: CardAction
    id: str
    value: str = ""


def measure_button(measure: Measure, t: Translator) -> tuple[str, CardCD]:
    title = t.pick(measure.title, measure.title_en)
    return _short(title), CardCD(action=CardAction.MEASURE, id=measure.id)


def organization_button(org: Organization, t: Translator) -> tuple[str, CardCD]:
    name = t.pick(org.name, org.name_en)
    return _short(name), CardCD(action=CardAction.ORGANIZATION, id=org.id)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def family_profile(
    viewer: Viewer, session: AsyncSession, state: FSMContext, view: CatalogueView | None = None
) -> FamilyProfile | None:
    """This conversation's screener answers, else the saved ones (only with consent)."""
    data = await state.get_data()
    if data.get(SESSION_PROFILE):
        return FamilyProfile.model_validate(data[SESSION_PROFILE])
    profile = await discovery.load_profile(session, viewer.user, view, viewer.region_code)
    if profile is not None:
        profile = profile.model_copy(update={"region": viewer.region_code})
    return profile


def render_measure(
    measure: Measure,
    t: Translator,
    view: CatalogueView,
    profile: FamilyProfile | None,
    share_link: str,
    *,
    today: dt.date,
) -> str:
    ru = t.lang == "ru"
    lines = [f"<b>{escape(measure.title if ru else measure.title_en)}</b>"]
    lines.append(f"<i>{escape(t(f'card.level.{measure.level.value}'))}</i>")
    lines.append("")
    lines.append(escape(measure.summary if ru else measure.summary_en))
    lines.append("")
    check_caution = provenance_caution(measure, t, today)
    if check_caution:
        lines.append(check_caution)
        lines.append("")
    amount = escape(typeset_numbers(measure.amount.text if ru else measure.amount.text_en, t.lang))
    as_of = t("card.amount_as_of", date=format_date(measure.amount.as_of, t.lang))
    lines.append(t("card.amount", amount=f"{amount} {as_of}"))
    explanation = measure.eligibility.explanation if ru else measure.eligibility.explanation_en
    lines.append(t("card.who", text=escape(explanation)))
    if profile is not None:
        minimum = None
        region = view.regions.get(profile.region or "")
        if region is not None:
            minimum = region.subsistence_minimum
        verdict = evaluate(measure, profile, minimum, today)
        lines.append("")
        lines.append(t("card.verdict", label=f"<b>{render_verdict(verdict.verdict, t)}</b>"))
        lines.extend(f"• {escape(render_reason(r, t))}" for r in verdict.reasons)
    lines.append("")
    lines.append(t("card.documents"))
    lines.extend(f"☐ {escape(d)}" for d in (measure.documents if ru else measure.documents_en))
    lines.append("")
    lines.append(t("card.how"))
    channels = ", ".join(t(f"channel.{c.value}") for c in measure.how_to_apply.channels)
    lines.append(t("card.where", channels=escape(channels)))
    steps = measure.how_to_apply.steps if ru else measure.how_to_apply.steps_en
    lines.extend(f"{i}. {escape(step)}" for i, step in enumerate(steps, 1))
    caution = measure.caution if ru else measure.caution_en
    if caution:
        lines.append("")
        lines.append(t("card.caution", text=escape(caution)))
    lines.append("")
    lines.append(t("card.legal", text=escape(measure.legal_basis)))
    lines.extend(source_lines(measure, t))
    lines.append(t("card.share", link=escape(share_link)))
    lines.append("")
    lines.append(t("card.helpful_question"))
    return "\n".join(lines)


def provenance_caution(measure: Measure, t: Translator, today: dt.date) -> str | None:
    """The warning a card shows when nobody checked the entry, or did long ago."""
    state = measure.check_state(today)
    if state is CheckState.UNCHECKED:
        return t("card.unchecked_caution")
    if state is CheckState.STALE and measure.checked_on is not None:
        return t("card.stale_caution", date=format_date(measure.checked_on, t.lang))
    return None


def source_lines(measure: Measure, t: Translator) -> list[str]:
    """Each source named for what it is (an act, an official page, the press), with its date,
    then the day the entry was checked against an official source, if ever."""
    lines = [t("card.sources")]
    for source in measure.sources:
        label = t(f"card.source_kind.{source.kind.value}")
        link = f'<a href="{escape(str(source.url), quote=True)}">{escape(label)}</a>'
        if source.source_date is not None:
            link += " " + t("card.source_date", date=format_date(source.source_date, t.lang))
        lines.append(f"• {link}")
    if measure.checked_on is not None:
        lines.append(t("card.checked", date=format_date(measure.checked_on, t.lang)))
    else:
        lines.append(t("card.not_checked"))
    return lines


def measure_keyboard(
    measure: Measure, t: Translator, view: CatalogueView | None = None
) -> InlineKeyboardMarkup:
    """The card's buttons; the same for everyone, so made once per catalogue and language."""
    key = ("card.keyboard", measure.id, t.lang)
    if view is not None and key in view.memo:
        cached: InlineKeyboardMarkup = view.memo[key]
        return cached
    buttons = [inline_button(t("card.apply"), url=str(measure.apply_url))]
    if str(measure.source_url) != str(measure.apply_url):
        label = t(f"card.source_button.{measure.source_kind.value}")
        buttons.append(inline_button(label, url=str(measure.source_url)))
    for verdict, label in (
        (MeasureVerdictFeedback.HELPFUL, "card.helpful"),
        (MeasureVerdictFeedback.NOT_HELPFUL, "card.not_helpful"),
        (MeasureVerdictFeedback.HARD_TO_APPLY, "card.hard"),
    ):
        buttons.append(
            inline_button(
                t(label), CardCD(action=CardAction.FEEDBACK, id=measure.id, value=verdict.value)
            )
        )
    label, data = ask_help_button(t, measure_id=measure.id)
    buttons.append(inline_button(label, data))
    keyboard = markup(buttons, 2, 3, 1)
    if view is not None:
        view.memo[key] = keyboard
    return keyboard


def render_organization(org: Organization, t: Translator, view: CatalogueView) -> str:
    ru = t.lang == "ru"
    lines = [t("org.header", name=escape(org.name if ru else org.name_en))]
    if org.demo:
        lines.append(f"<i>{t('org.demo')}</i>")
    lines.append(escape(org.description if ru else org.description_en))
    lines.append("")
    needs = [view.needs[n] for n in org.needs if n in view.needs]
    lines.append(
        t("org.needs", needs=escape(", ".join(n.title if ru else n.title_en for n in needs)))
    )
    if org.municipalities == ["all"]:
        area = t("org.whole_region")
    else:
        names = [view.municipality(m) for m in org.municipalities]
        area = ", ".join((m.name if ru else m.name_en) for m in names if m is not None)
    lines.append(t("org.area", area=escape(area)))
    contacts = org.contacts
    for key, value in (
        ("phone", contacts.phone),
        ("website", str(contacts.website) if contacts.website else None),
        ("address", contacts.address),
        ("hours", contacts.hours),
    ):
        if value:
            lines.append(t(f"org.{key}", **{key: escape(value)}))
    if org.consultations:
        lines.append("")
        lines.append(t("org.consultations"))
        for c in org.consultations:
            lines.append(
                t(
                    "org.consultation_line",
                    title=escape(c.title if ru else c.title_en),
                    format=t(f"format.{c.format.value}"),
                )
            )
    if org.capacity > 0:
        lines.append("")
        lines.append(t("org.takes_requests"))
    return "\n".join(lines)


def _today(view: CatalogueView, region_code: str | None, clock: Clock) -> dt.date:
    """The family's calendar day (their region's timezone; Moscow before they pick one)."""
    region = view.regions.get(region_code or "")
    return clock.now().astimezone(ZoneInfo(region.timezone if region else "Europe/Moscow")).date()


async def share_link(bot: Bot, measure_id: str) -> str:
    return await bot_start_link(bot, f"m-{measure_id}")


async def send_measure_card(
    message: Message,
    measure: Measure,
    t: Translator,
    view: CatalogueView,
    profile: FamilyProfile | None,
    bot: Bot,
    today: dt.date,
) -> None:
    link = await share_link(bot, measure.id)
    text = render_measure(measure, t, view, profile, link, today=today)
    await send_long(
        message, text, reply_markup=measure_keyboard(measure, t, view), parse_mode="HTML"
    )


async def cmd_start_measure(
    message: Message,
    command: CommandObject,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    bot: Bot,
    clock: Clock,
) -> None:
    measure_id = (command.args or "")[2:66]
    measure = catalogue.view.measures.get(measure_id)
    if measure is None:
        await message.answer(t("card.not_found"))
        return
    profile = await family_profile(viewer, session, state, catalogue.view)
    today = _today(catalogue.view, viewer.region_code, clock)
    await send_measure_card(message, measure, t, catalogue.view, profile, bot, today)


async def cb_open_measure(
    query: CallbackQuery,
    message: Message,
    callback_data: CardCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    bot: Bot,
    clock: Clock,
) -> None:
    measure = catalogue.view.measures.get(callback_data.id)
    if measure is None:
        alert(callback_answer, t("card.not_found"))
        return
    profile = await family_profile(viewer, session, state, catalogue.view)
    today = _today(catalogue.view, viewer.region_code, clock)
    await send_measure_card(message, measure, t, catalogue.view, profile, bot, today)


async def cb_open_organization(
    query: CallbackQuery,
    message: Message,
    callback_data: CardCD,
    callback_answer: CallbackAnswer,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    org = catalogue.view.organizations.get(callback_data.id)
    if org is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await message.answer(render_organization(org, t, catalogue.view))


async def cb_measure_feedback(
    query: CallbackQuery,
    message: Message,
    callback_data: CardCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    measure = catalogue.view.measures.get(callback_data.id)
    try:
        verdict = MeasureVerdictFeedback(callback_data.value)
    except ValueError:
        verdict = None
    if measure is None or verdict is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    feedback_id = await discovery.record_measure_feedback(
        session,
        clock,
        measure_id=measure.id,
        verdict=verdict,
        region_code=viewer.region_code,
        user=viewer.user,
    )
    callback_answer.text = t("feedback.thanks")
    if verdict is MeasureVerdictFeedback.HELPFUL:
        return
    await state.update_data({LAST_FEEDBACK: feedback_id})
    buttons = [
        inline_button(
            t(f"feedback.reason.{reason.value}"),
            CardCD(action=CardAction.REASON, id=measure.id, value=reason.value),
        )
        for reason in MeasureFeedbackReason
    ]
    await message.answer(t("feedback.why"), reply_markup=markup(buttons, 1))


async def cb_feedback_reason(
    query: CallbackQuery,
    message: Message,
    callback_data: CardCD,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
) -> None:
    feedback_id = (await state.get_data()).get(LAST_FEEDBACK)
    try:
        reason = MeasureFeedbackReason(callback_data.value)
    except ValueError:
        reason = None
    if not isinstance(feedback_id, int) or reason is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    saved = await discovery.add_feedback_reason(
        session, feedback_id=feedback_id, measure_id=callback_data.id, reason=reason
    )
    if not saved:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await state.update_data({LAST_FEEDBACK: None})
    await message.edit_text(t("feedback.reason_thanks"))


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(
        cmd_start_measure,
        CommandStart(deep_link=True, magic=F.args.startswith("m-")),
        flags=LEAVES_DIALOG,
    )
    router.callback_query.register(
        cb_open_measure, CardCD.filter(F.action == CardAction.MEASURE), shown
    )
    router.callback_query.register(
        cb_open_organization, CardCD.filter(F.action == CardAction.ORGANIZATION), shown
    )
    router.callback_query.register(
        cb_measure_feedback, CardCD.filter(F.action == CardAction.FEEDBACK), shown
    )
    router.callback_query.register(
        cb_feedback_reason, CardCD.filter(F.action == CardAction.REASON), shown
    )
    return router
