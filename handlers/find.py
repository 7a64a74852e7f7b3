"""/find: a short guided screener; every question can be skipped, results explain themselves."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import ANON_REGION, Viewer
from core import discovery, people
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.screener import (
    Child,
    FamilyProfile,
    MeasureVerdict,
    Verdict,
    render_reason,
    screen,
)
from core.texts import Translator
from handlers.cards import measure_button
from handlers.dialogs import SESSION_PROFILE, leave_dialog
from handlers.keyboards import inline_button, layout, markup
from handlers.reminders import offer_reminders
from handlers.render import alert, send_long
from handlers.search import PlainText

ANSWERS = "find_answers"
MAX_CHILDREN_ASKED = 4
SKIP, FINISH = "skip", "finish"


class FindStates(StatesGroup):
    answering = State()


class FindCD(CallbackData, prefix="find"):
    step: str
    value: str


@dataclass(frozen=True)
class Option:
    label_key: str
    value: Any


YES_NO = (Option("find.answer_yes", True), Option("find.answer_no", False))
# Age buttons are ranges, kept as ranges (never a point inside them) and dated by the
# profile's as_of, so they move with time; 18–23 «учится» also says full-time study.
AGE_RANGES: tuple[dict[str, Any], ...] = tuple(discovery.OLD_AGE_POINTS.values())
CHILD_AGES = tuple(Option(f"find.option.age_{i}", age) for i, age in enumerate(AGE_RANGES, 1))
BIRTH_YEAR = re.compile(r"(?:(0?[1-9]|1[0-2])[./-])?((?:19|20)\d\d)")
OPTIONS: dict[str, tuple[Option, ...]] = {
    "pregnant": YES_NO,
    # Term and mother's age buttons are ranges too (discovery.OLD_*_POINTS: what they were).
    "pregnancy_weeks": tuple(
        Option(f"find.option.weeks_{i}", span)
        for i, span in enumerate(discovery.OLD_WEEK_POINTS.values(), 1)
    ),
    "children_count": (
        Option("find.option.children_0", 0),
        Option("1", 1),
        Option("2", 2),
        Option("3", 3),
        Option("find.option.children_4", 4),
    ),
    "disabled_child": YES_NO,
    "single_parent": YES_NO,
    "mother_age": tuple(
        Option(f"find.option.mother_{i}", span)
        for i, span in enumerate(discovery.OLD_MOTHER_POINTS.values(), 1)
    ),
    "employed": YES_NO,
    "student": YES_NO,
    "has_mortgage": YES_NO,
    "citizen": YES_NO,
    **{f"child_age_{i}": CHILD_AGES for i in range(MAX_CHILDREN_ASKED)},
}
ORDER = (
    "region",
    "pregnant",
    "pregnancy_weeks",
    "children_count",
    *(f"child_age_{i}" for i in range(MAX_CHILDREN_ASKED)),
    "disabled_child",
    "single_parent",
    "mother_age",
    "income",
    "employed",
    "student",
    "has_mortgage",
    "citizen",
)
# Income ranges as multiples of the regional per-capita subsistence minimum, stored as the
# range (income_range_pm), so the screener compares them with 1×, 1.1×, 1.5×, 2× exactly.
INCOME_RANGES: tuple[list[float | None], ...] = tuple(discovery.OLD_INCOME_POINTS.values())


def _applies(step: str, answers: dict[str, Any], region: str | None) -> bool:
    if step == "region":
        return region is None
    if step == "pregnancy_weeks":
        return answers.get("pregnant") is True
    if step.startswith("child_age_"):
        return int(step.rsplit("_", 1)[1]) < min(
            answers.get("children_count") or 0, MAX_CHILDREN_ASKED
        )
    if step == "disabled_child":
        return bool(answers.get("children_count"))
    return True


def next_step(answers: dict[str, Any], region: str | None) -> str | None:
    asked = set(answers.get("_asked", []))
    for step in ORDER:
        if step not in asked and _applies(step, answers, region):
            return step
    return None


def child_answer(value: Any) -> dict[str, Any]:
    """A stored child answer as Child fields: a range, a birth year/month or a typed age."""
    if isinstance(value, dict):
        return value
    if isinstance(value, int | float):
        return dict(discovery.OLD_AGE_POINTS.get(float(value), {"age_years": value}))
    return {}


def _point(value: Any) -> Any:
    """A typed (exact) answer; a button's range is a list and goes to the range field."""
    return None if isinstance(value, list) else value


def _span(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else None


def to_profile(answers: dict[str, Any], region: str | None, today: dt.date) -> FamilyProfile:
    children: list[Child] | None = None
    count = answers.get("children_count")
    if count is not None:
        disabled = answers.get("disabled_child")
        children = []
        for i in range(count):
            age = answers.get(f"child_age_{i}") if i < MAX_CHILDREN_ASKED else None
            # Which child has the disability does not matter to any rule: mark the first.
            child_disabled = (
                (i == 0) if disabled is True else (False if disabled is False else None)
            )
            children.append(Child(**child_answer(age), disabled=child_disabled))
    as_of = answers.get("_as_of")
    return FamilyProfile(
        region=region,
        # Ranges, ages and weeks hold on the day they were given; saved answers keep theirs.
        as_of=dt.date.fromisoformat(as_of) if isinstance(as_of, str) else today,
        children=children,
        pregnant=answers.get("pregnant"),
        pregnancy_weeks=_point(answers.get("pregnancy_weeks")),
        pregnancy_weeks_range=_span(answers.get("pregnancy_weeks")),
        mother_age=_point(answers.get("mother_age")),
        mother_age_range=_span(answers.get("mother_age")),
        student=answers.get("student"),
        employed=answers.get("employed"),
        income_per_person=_point(answers.get("income")),
        income_range_pm=_span(answers.get("income")),
        single_parent=answers.get("single_parent"),
        citizen=answers.get("citizen"),
        has_mortgage=answers.get("has_mortgage"),
    )


def _listed(span: tuple[Any, ...] | None, point: Any) -> Any:
    return list(span) if span is not None else point


def from_profile(profile: FamilyProfile) -> dict[str, Any]:
    """Saved profile back to answers, so the results and cards use the same shape."""
    answers: dict[str, Any] = {
        key: value
        for key, value in {
            "pregnant": profile.pregnant,
            "pregnancy_weeks": _listed(profile.pregnancy_weeks_range, profile.pregnancy_weeks),
            "mother_age": _listed(profile.mother_age_range, profile.mother_age),
            "student": profile.student,
            "employed": profile.employed,
            "income": _listed(profile.income_range_pm, profile.income_per_person),
            "single_parent": profile.single_parent,
            "citizen": profile.citizen,
            "has_mortgage": profile.has_mortgage,
        }.items()
        if value is not None
    }
    if profile.as_of is not None:
        answers["_as_of"] = profile.as_of.isoformat()
    if profile.children is not None:
        answers["children_count"] = len(profile.children)
        for i, child in enumerate(profile.children[:MAX_CHILDREN_ASKED]):
            fields = child.model_dump(exclude_none=True, exclude={"disabled"})
            if fields:
                answers[f"child_age_{i}"] = fields
        flags = [c.disabled for c in profile.children if c.disabled is not None]
        if flags:
            answers["disabled_child"] = any(flags)
    return answers


def _typed_child(text: str) -> dict[str, Any] | None:
    """A typed child answer: a birth year ("2019"), month ("03.2019") or an age ("5")."""
    match = BIRTH_YEAR.fullmatch(text)
    if match is not None:
        month, year = match.groups()
        return {"birth_date": f"{year}-{int(month):02d}" if month else year}
    try:
        age = float(text[:6])
    except ValueError:
        return None
    return {"age_years": age} if 0 <= age <= 25 else None


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("birth_date", value.get("age_years", "")))
    return str(value)


def _money(value: float, t: Translator) -> str:
    return t.number(round(value))


def question(
    step: str, answers: dict[str, Any], t: Translator, view: CatalogueView, region: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    """A question and its buttons: they depend on the step, the language and (for income) the
    region only, so each is made once per catalogue view."""
    key = ("find.question", step, t.lang, region if step == "income" else None)
    cached: tuple[str, InlineKeyboardMarkup] | None = view.memo.get(key)
    if cached is None:
        cached = view.memo[key] = _make_question(step, t, view, region)
    return cached


def _make_question(
    step: str, t: Translator, view: CatalogueView, region: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    buttons: list[InlineKeyboardButton] = []
    if step == "region":
        text = t("find.q.region")
        for r in view.regions.values():
            buttons.append(
                inline_button(t.pick(r.name, r.name_en), FindCD(step=step, value=r.code))
            )
    elif step == "income":
        region_obj = view.regions.get(region or "")
        if region_obj is None:
            text = t("find.q.income_no_region")
        else:
            text = t("find.q.income")
            pm = region_obj.subsistence_minimum.per_capita
            low, high = _money(pm, t), _money(2 * pm, t)
            for i, _ in enumerate(INCOME_RANGES, 1):
                buttons.append(
                    inline_button(
                        t(f"find.option.income_{i}", low=low, high=high),
                        FindCD(step=step, value=str(i)),
                    )
                )
    else:
        if step.startswith("child_age_"):
            text = t("find.q.child_age", n=int(step.rsplit("_", 1)[1]) + 1)
        else:
            text = t(f"find.q.{step}")
        for i, option in enumerate(OPTIONS[step]):
            label = (
                t(option.label_key) if option.label_key.startswith("find.") else option.label_key
            )
            buttons.append(inline_button(label, FindCD(step=step, value=str(i))))
    tail = [
        inline_button(t("find.skip"), FindCD(step=step, value=SKIP)),
        inline_button(t("find.finish"), FindCD(step=step, value=FINISH)),
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=[*layout(buttons, 2), tail])


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
    await leave_dialog(state)
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


async def cb_answer(
    query: CallbackQuery,
    callback_data: FindCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    data = await state.get_data()
    answers: dict[str, Any] = data.get(ANSWERS, {"_asked": []})
    if callback_data.step == "reuse":
        view = catalogue.view
        saved = await discovery.load_profile(session, viewer.user, view, viewer.region_code)
        await message.edit_reply_markup(reply_markup=None)
        if callback_data.value == "yes" and saved is not None:
            answers = {**from_profile(saved), "_asked": list(ORDER)}
            await state.update_data({ANSWERS: answers})
            await _show_results(message, viewer, session, state, clock, t, catalogue, answers)
        else:
            await _start(message, viewer, state, t, catalogue)
        return
    region = await _region_of(viewer, answers)
    # Only the question being asked now may be answered: an old or forged button changes nothing.
    if await state.get_state() != FindStates.answering or callback_data.step != next_step(
        answers, region
    ):
        alert(callback_answer, t("fallback.stale_button"))
        return
    value = _decode(callback_data.step, callback_data.value, catalogue.view, region)
    if value is _INVALID:
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


_INVALID = object()


def _decode(step: str, raw: str, view: CatalogueView, region: str | None) -> Any:
    if raw in (SKIP, FINISH):
        return None
    if step == "region":
        return raw if raw in view.regions else _INVALID
    if step == "income":
        region_obj = view.regions.get(region or "")
        if region_obj is None or raw not in ("1", "2", "3"):
            return _INVALID
        return list(INCOME_RANGES[int(raw) - 1])
    options = OPTIONS.get(step)
    if options is None or not raw.isdigit() or int(raw) >= len(options):
        return _INVALID
    return options[int(raw)].value


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
    elif step is not None and step.startswith("child_age_") and (typed := _typed_child(text)):
        value = typed
    else:
        await message.answer(t("find.bad_number"))
        return
    await message.answer(
        t(
            "find.typed_answer",
            value=escape(_money(value, t) if step == "income" else _shown(value)),
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
        await offer_reminders(message, viewer, session, t)
    await discovery.log_screening(
        session, clock, region_code=region, user=viewer.user, found=len(fitting)
    )
    if not fitting:
        await message.answer(t("find.nothing"))
        return
    text, keyboard = render_results(verdicts, view, t)
    await send_long(message, text, reply_markup=keyboard, parse_mode="HTML")


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
    callback_answer: CallbackAnswer,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    data = (await state.get_data()).get(SESSION_PROFILE)
    if not data or not isinstance(query.message, Message):
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
    await send_long(query.message, "\n".join(lines), parse_mode="HTML")


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_find, Command("find"))
    router.callback_query.register(cb_why_not, FindCD.filter(F.step == "why_not"))
    router.callback_query.register(cb_answer, FindCD.filter())
    router.message.register(msg_typed_answer, StateFilter(FindStates.answering), PlainText())
    return router
