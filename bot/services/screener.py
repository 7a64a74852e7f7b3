"""Eligibility screener: a family profile against the measures' rules, with reasons."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.catalogue.schema import Conditions, Level, Measure, Region, RegionCode, SubsistenceMinimum
from bot.texts import Translator, format_number

# Three-valued logic: True holds, False fails, None unknown (the family did not say).
Tri = bool | None
ParamValue = str | int | float


class Child(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_years: float | None = Field(default=None, ge=0, le=25)
    disabled: bool | None = None


class FamilyProfile(BaseModel):
    """PRODUCT.md §4: every field optional; an unanswered field means "maybe", never "no"."""

    model_config = ConfigDict(extra="forbid")

    region: RegionCode | None = None
    # None: not asked; []: the family has no children.
    children: list[Child] | None = None
    pregnant: bool | None = None
    pregnancy_weeks: int | None = Field(default=None, ge=1, le=45)
    mother_age: int | None = Field(default=None, ge=10, le=80)
    student: bool | None = None
    employed: bool | None = None
    income_per_person: float | None = Field(default=None, ge=0)
    single_parent: bool | None = None
    citizen: bool | None = None
    has_mortgage: bool | None = None


class Verdict(StrEnum):
    ELIGIBLE = "eligible"
    MAYBE = "maybe"
    NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class Reason:
    """One condition as applied to the family; `met` None means it needs checking."""

    code: str
    params: Mapping[str, ParamValue]
    met: bool | None


@dataclass(frozen=True)
class MeasureVerdict:
    measure_id: str
    verdict: Verdict
    reasons: tuple[Reason, ...]

    @property
    def unknown_count(self) -> int:
        return sum(1 for r in self.reasons if r.met is None and r.code != ANY_OF)


ANY_OF = "any_of"
NO_RULES = "no_rules"
STATES = ("met", "not_met", "unknown")
# Every reason code evaluate() can produce; each has screener.reason.<code>.<state> texts.
# A boolean condition has one code for "must be true" and one for "must be false".
BOOL_CODES: Mapping[str, tuple[str, str]] = {
    "pregnant": ("pregnant", "not_pregnant"),
    "disabled_child": ("disabled_child", "no_disabled_child"),
    "single_parent": ("single_parent", "not_single_parent"),
    "employed": ("employed", "not_employed"),
    "student": ("student", "not_student"),
    "has_mortgage": ("has_mortgage", "no_mortgage"),
    "citizen": ("citizen", "not_citizen"),
}
REASON_CODES = (
    *(code for pair in BOOL_CODES.values() for code in pair),
    "pregnancy_weeks",
    "child_age",
    "children_min",
    "mother_age",
    "income",
    ANY_OF,
    NO_RULES,
)
# Extra text variants some codes use besides met / not_met / unknown.
REASON_VARIANTS: Mapping[str, tuple[str, ...]] = {
    "child_age": ("not_met_many", "not_met_none"),
    "children_min": ("not_met_none",),
    "income": ("no_region",),
}

_RANK = {Verdict.ELIGIBLE: 0, Verdict.MAYBE: 1, Verdict.NOT_ELIGIBLE: 2}

# One condition checked: its value and the reasons that explain it.
_Check = tuple[Tri, list[Reason]]


def _all(values: Iterable[Tri]) -> Tri:
    result: Tri = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def _any(values: Iterable[Tri]) -> Tri:
    result: Tri = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _is_pregnant(profile: FamilyProfile) -> Tri:
    if profile.pregnant is not None:
        return profile.pregnant
    # A pregnancy term given without the yes/no answer still says "pregnant".
    return True if profile.pregnancy_weeks is not None else None


def _some_child_disabled(children: list[Child] | None) -> Tri:
    if children is None:
        return None
    return _any(child.disabled for child in children)


def _bool_check(field: str, required: bool, actual: Tri) -> _Check:
    yes_code, no_code = BOOL_CODES[field]
    value = None if actual is None else actual == required
    return value, [Reason(yes_code if required else no_code, {}, value)]


def _child_age_check(low: float | None, high: float | None, profile: FamilyProfile) -> _Check:
    params: dict[str, ParamValue] = {}
    if low:
        params["min"] = low
    if high is not None:
        params["max"] = high
    lo, hi = low or 0.0, high if high is not None else math.inf
    children = profile.children
    if children is None:
        return None, [Reason("child_age", params, None)]
    known = sorted(c.age_years for c in children if c.age_years is not None)
    matching = [age for age in known if lo <= age < hi]
    if matching:
        return True, [Reason("child_age", {**params, "age": matching[0]}, True)]
    if len(known) < len(children):
        return None, [Reason("child_age", params, None)]
    if known:
        params["ages"] = ";".join(f"{age:g}" for age in known)
    return False, [Reason("child_age", params, False)]


def _income_check(
    multiple: float, profile: FamilyProfile, minimum: SubsistenceMinimum | None
) -> _Check:
    if minimum is None:
        return None, [Reason("income", {}, None)]
    threshold = multiple * minimum.per_capita
    params: dict[str, ParamValue] = {"threshold": math.floor(threshold + 0.5)}
    income = profile.income_per_person
    if income is None:
        return None, [Reason("income", params, None)]
    value = income < threshold
    return value, [Reason("income", {**params, "income": income}, value)]


def _checks(
    rules: Conditions, profile: FamilyProfile, minimum: SubsistenceMinimum | None
) -> list[_Check]:
    """Each set condition checked, in the order a family reads them: children first."""
    checks: list[_Check] = []
    if rules.pregnant is not None:
        checks.append(_bool_check("pregnant", rules.pregnant, _is_pregnant(profile)))
    if rules.pregnancy_weeks_min is not None:
        least = rules.pregnancy_weeks_min
        weeks = profile.pregnancy_weeks
        if _is_pregnant(profile) is False:
            checks.append((False, [Reason("pregnant", {}, False)]))
        elif weeks is None:
            checks.append((None, [Reason("pregnancy_weeks", {"min": least}, None)]))
        else:
            value = weeks >= least
            reason = Reason("pregnancy_weeks", {"min": least, "weeks": weeks}, value)
            checks.append((value, [reason]))
    if rules.child_age_min is not None or rules.child_age_max is not None:
        checks.append(_child_age_check(rules.child_age_min, rules.child_age_max, profile))
    if rules.children_min is not None:
        least = rules.children_min
        if profile.children is None:
            checks.append((None, [Reason("children_min", {"min": least}, None)]))
        else:
            count = len(profile.children)
            value = count >= least
            reason = Reason("children_min", {"min": least, "count": count}, value)
            checks.append((value, [reason]))
    if rules.disabled_child is not None:
        actual = _some_child_disabled(profile.children)
        checks.append(_bool_check("disabled_child", rules.disabled_child, actual))
    if rules.mother_age_max is not None:
        most = rules.mother_age_max
        age = profile.mother_age
        if age is None:
            checks.append((None, [Reason("mother_age", {"max": most}, None)]))
        else:
            value = age <= most
            checks.append((value, [Reason("mother_age", {"max": most, "age": age}, value)]))
    if rules.single_parent is not None:
        checks.append(_bool_check("single_parent", rules.single_parent, profile.single_parent))
    if rules.income_max_pm is not None:
        checks.append(_income_check(rules.income_max_pm, profile, minimum))
    if rules.employed is not None:
        checks.append(_bool_check("employed", rules.employed, profile.employed))
    if rules.student is not None:
        checks.append(_bool_check("student", rules.student, profile.student))
    if rules.has_mortgage is not None:
        checks.append(_bool_check("has_mortgage", rules.has_mortgage, profile.has_mortgage))
    if rules.citizen is not None:
        checks.append(_bool_check("citizen", rules.citizen, profile.citizen))
    if rules.any_of:
        checks.append(_any_of_check(rules.any_of, profile, minimum))
    return checks


def _combine(checks: list[_Check]) -> _Check:
    """AND of checks; when it fails only the failing reasons are kept: they are "why not"."""
    value = _all(check_value for check_value, _ in checks)
    return value, [
        reason
        for check_value, reasons in checks
        if value is not False or check_value is False
        for reason in reasons
    ]


def _any_of_check(
    alternatives: list[Conditions], profile: FamilyProfile, minimum: SubsistenceMinimum | None
) -> _Check:
    combined = [_combine(_checks(alt, profile, minimum)) for alt in alternatives]
    value = _any(alt_value for alt_value, _ in combined)
    if value is True:
        return True, next(reasons for alt_value, reasons in combined if alt_value is True)
    # Unknown: show what to check in the alternatives still open; failed: why each fails.
    shown = [
        reason
        for alt_value, reasons in combined
        if alt_value is value
        for reason in reasons
        if reason.met is not True
    ]
    if len(alternatives) == 1:
        return value, shown
    return value, [Reason(ANY_OF, {"count": len(alternatives)}, value), *shown]


def has_rules(rules: Conditions) -> bool:
    return bool(rules.model_dump(exclude_defaults=True))


def evaluate(
    measure: Measure, profile: FamilyProfile, minimum: SubsistenceMinimum | None
) -> MeasureVerdict:
    """One measure's verdict for the family: unknown answers give "maybe", never "no"."""
    rules = measure.eligibility.rules
    if not has_rules(rules):
        return MeasureVerdict(measure.id, Verdict.MAYBE, (Reason(NO_RULES, {}, None),))
    value, reasons = _combine(_checks(rules, profile, minimum))
    unique: list[Reason] = []
    for reason in reasons:
        if reason not in unique:
            unique.append(reason)
    verdict = {True: Verdict.ELIGIBLE, False: Verdict.NOT_ELIGIBLE, None: Verdict.MAYBE}[value]
    return MeasureVerdict(measure.id, verdict, tuple(unique))


def applies_to_region(measure: Measure, region: str | None) -> bool:
    if measure.level is Level.FEDERAL:
        return True
    return region is not None and measure.region == region


def _sort_key(verdict: MeasureVerdict) -> tuple[int, int]:
    return _RANK[verdict.verdict], verdict.unknown_count


def screen(
    measures: Iterable[Measure], profile: FamilyProfile, regions: Mapping[str, Region]
) -> list[MeasureVerdict]:
    """Verdicts for the measures of the family's region, best first (stable within ties)."""
    region = regions.get(profile.region) if profile.region is not None else None
    minimum = region.subsistence_minimum if region is not None else None
    verdicts = [
        evaluate(measure, profile, minimum)
        for measure in measures
        if applies_to_region(measure, profile.region)
    ]
    return sorted(verdicts, key=_sort_key)


def group_by_need(
    verdicts: Sequence[MeasureVerdict], measures_by_id: Mapping[str, Measure]
) -> list[tuple[str, list[MeasureVerdict]]]:
    """Need id -> its verdicts (a measure may serve several needs), best needs first."""
    groups: dict[str, list[MeasureVerdict]] = {}
    for verdict in verdicts:
        measure = measures_by_id.get(verdict.measure_id)
        if measure is None:
            continue
        for need in measure.needs:
            groups.setdefault(need, []).append(verdict)
    ordered = [(need, sorted(items, key=_sort_key)) for need, items in groups.items()]
    return sorted(ordered, key=lambda group: _sort_key(group[1][0]))


# --- rendering ----------------------------------------------------------------------------


def _number(value: float, lang: str) -> str:
    """Rounded to tenths, written the language's way («1,5», «14 000»)."""
    return format_number(round(value, 1), lang)


def _unit(t: Translator, unit: str, value: float, shown: str | None = None) -> str:
    """A number with its unit ("5 лет"); `shown` may replace the number ("5 и 8")."""
    text = shown if shown is not None else _number(value, t.lang)
    return t.plural(f"screener.unit.{unit}", round(value, 1), n=text)


def _age(years: float, t: Translator, genitive: bool = False) -> str:
    """A child's age: months under a year ("8 месяцев"), years from one ("1,5 года")."""
    if years < 1:
        months = math.floor(round(years * 12, 6))
        if months < 1 and not genitive:
            return t("screener.unit.newborn")
        return _unit(t, "month_gen" if genitive else "month", max(months, 1))
    # Completed tenths, as ages are told: 2.96 is "2,9 года", not "3 года" under a 3-year cap.
    return _unit(t, "year_gen" if genitive else "year", math.floor(round(years * 10, 6)) / 10)


def _ages(ages: list[float], t: Translator) -> str:
    """Several ages: "5 и 8 лет" when all are years, "8 месяцев и 3 года" when mixed."""
    if all(age >= 1 for age in ages):
        tenths = [math.floor(round(age * 10, 6)) / 10 for age in ages]
        numbers = [_number(age, t.lang) for age in tenths]
        return _unit(t, "year", tenths[-1], _join(numbers, t))
    return _join([_age(age, t) for age in ages], t)


def _join(items: list[str], t: Translator) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {t('screener.and')} {items[-1]}"


def _age_range(params: Mapping[str, ParamValue], t: Translator) -> str:
    low, high = params.get("min"), params.get("max")
    if low is not None and high is not None:
        low_f = float(low)
        # "от 1,5 до 3 лет": the unit once when both ends are in years.
        shown = _number(low_f, t.lang) if low_f >= 1 else _age(low_f, t, genitive=True)
        return t("screener.age.between", min=shown, max=_age(float(high), t, genitive=True))
    if high is not None:
        return t("screener.age.under", max=_age(float(high), t, genitive=True))
    return t("screener.age.from", min=_age(float(low or 0), t, genitive=True))


def _money(value: float, t: Translator) -> str:
    return t("screener.money", amount=_number(math.floor(value + 0.5), t.lang))


def _state(reason: Reason) -> str:
    return {True: "met", False: "not_met", None: "unknown"}[reason.met]


_Rendered = tuple[str, dict[str, Any]]


def _render_child_age(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    fields: dict[str, Any] = {"range": _age_range(params, t)}
    if reason.met is True:
        return "met", {**fields, "age": _age(float(params["age"]), t)}
    if reason.met is None:
        return "unknown", fields
    ages = [float(age) for age in str(params.get("ages", "")).split(";") if age]
    if not ages:
        return "not_met_none", fields
    if len(ages) == 1:
        return "not_met", {**fields, "age": _age(ages[0], t)}
    return "not_met_many", {**fields, "ages": _ages(ages, t)}


def _render_children_min(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    fields: dict[str, Any] = {"min": _unit(t, "child_gen", float(params["min"]))}
    if reason.met is None:
        return "unknown", fields
    count = int(params["count"])
    if count == 0:
        return "not_met_none", fields
    return _state(reason), {**fields, "count": _unit(t, "child", count)}


def _render_pregnancy_weeks(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    fields: dict[str, Any] = {"min": _unit(t, "week_gen", float(params["min"]))}
    if reason.met is None:
        return "unknown", fields
    return _state(reason), {**fields, "weeks": _unit(t, "week", float(params["weeks"]))}


def _render_mother_age(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    fields: dict[str, Any] = {"max": _age(float(params["max"]), t, genitive=True)}
    if reason.met is None:
        return "unknown", fields
    return _state(reason), {**fields, "age": _age(float(params["age"]), t)}


def _render_income(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    if "threshold" not in params:
        return "no_region", {}
    fields: dict[str, Any] = {"threshold": _money(float(params["threshold"]), t)}
    if reason.met is None:
        return "unknown", fields
    return _state(reason), {**fields, "income": _money(float(params["income"]), t)}


_RENDERERS: Mapping[str, Callable[[Reason, Translator], _Rendered]] = {
    "child_age": _render_child_age,
    "children_min": _render_children_min,
    "pregnancy_weeks": _render_pregnancy_weeks,
    "mother_age": _render_mother_age,
    "income": _render_income,
}


def render_reason(reason: Reason, t: Translator) -> str:
    """A reason in the family's language: "ребёнку 2 года — до 3 лет"."""
    renderer = _RENDERERS.get(reason.code)
    variant, params = renderer(reason, t) if renderer else (_state(reason), {})
    return t(f"screener.reason.{reason.code}.{variant}", **params)


def render_verdict(verdict: Verdict, t: Translator) -> str:
    return t(f"screener.verdict.{verdict.value}")


def match_json(verdicts: list[MeasureVerdict], t: Translator) -> dict[str, Any]:
    """PRODUCT.md §4 `match --json`; "not_eligible" is an addition to the contract."""

    def reasons(verdict: MeasureVerdict) -> list[str]:
        return [render_reason(reason, t) for reason in verdict.reasons]

    return {
        "results": [
            {"id": v.measure_id, "verdict": v.verdict.value, "reasons": reasons(v)}
            for v in verdicts
            if v.verdict is not Verdict.NOT_ELIGIBLE
        ],
        "not_eligible": [
            {"id": v.measure_id, "reasons": reasons(v)}
            for v in verdicts
            if v.verdict is Verdict.NOT_ELIGIBLE
        ],
    }
