"""The questions of /find: their order and options, the answers kept in the dialog, and
the answers to and from a screener profile; no Telegram handlers here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.catalogue.active import CatalogueView
from core.screener import Child, FamilyProfile
from core.search import discovery
from core.texts import Translator
from handlers.keyboards import inline_button, layout

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


def typed_child(text: str) -> dict[str, Any] | None:
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


def shown_value(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("birth_date", value.get("age_years", "")))
    return str(value)


def money(value: float, t: Translator) -> str:
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
            low, high = money(pm, t), money(2 * pm, t)
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


INVALID = object()


def decode(step: str, raw: str, view: CatalogueView, region: str | None) -> Any:
    if raw in (SKIP, FINISH):
        return None
    if step == "region":
        return raw if raw in view.regions else INVALID
    if step == "income":
        region_obj = view.regions.get(region or "")
        if region_obj is None or raw not in ("1", "2", "3"):
            return INVALID
        return list(INCOME_RANGES[int(raw) - 1])
    options = OPTIONS.get(step)
    if options is None or not raw.isdigit() or int(raw) >= len(options):
        return INVALID
    return options[int(raw)].value
