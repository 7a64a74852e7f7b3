"""Eligibility screener: a family profile against the measures' rules, with reasons."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.catalogue.schema import (
    ChildCount,
    ChildRule,
    Conditions,
    ExtraCheck,
    Income,
    IncomeOp,
    Level,
    Measure,
    NthChild,
    Region,
    RegionCode,
    SubsistenceMinimum,
)
from core.texts import Translator, format_day, format_number

# Three-valued logic: True holds, False fails, None unknown (the family did not say).
Tri = bool | None
ParamValue = str | int | float

_BIRTH_DATE = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"


class Child(BaseModel):
    """One child. Prefer what does not go stale: `birth_date` ("YYYY", "YYYY-MM" or a full
    date); `age_range` [min, max) and `age_years` are as of the profile's `as_of` (else the
    evaluation day); a whole `age_years` is completed years (5 = from 5 to 6)."""

    model_config = ConfigDict(extra="forbid")

    age_years: float | None = Field(default=None, ge=0, le=60)
    disabled: bool | None = None
    birth_date: Annotated[str, StringConstraints(pattern=_BIRTH_DATE)] | None = None
    age_range: tuple[float, float] | None = None
    full_time_student: bool | None = None

    @field_validator("birth_date")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None and len(value) == 10:
            dt.date.fromisoformat(value)
        return value

    @field_validator("age_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1] <= 60:
            raise ValueError("age_range must be [min, max] with 0 <= min < max <= 60")
        return value


class FamilyProfile(BaseModel):
    """PRODUCT.md §4: every field optional; an unanswered field means "maybe", never "no"."""

    model_config = ConfigDict(extra="forbid")

    region: RegionCode | None = None
    # None: not asked; []: the family has no children.
    children: list[Child] | None = None
    pregnant: bool | None = None
    pregnancy_weeks: int | None = Field(default=None, ge=1, le=45)
    # The day the relative answers (pregnancy_weeks, age_years, age_range, mother_age) were
    # given; they move with time from it. Without it they hold on the evaluation day.
    as_of: dt.date | None = None
    due_date: dt.date | None = None
    mother_age: int | None = Field(default=None, ge=10, le=80)
    mother_birth_year: int | None = Field(default=None, ge=1940, le=2020)
    student: bool | None = None
    employed: bool | None = None
    carer_employed: bool | None = None
    income_per_person: float | None = Field(default=None, ge=0)
    single_parent: bool | None = None
    citizen: bool | None = None
    citizenship_years: float | None = Field(default=None, ge=0, le=100)
    years_in_region: float | None = Field(default=None, ge=0, le=100)
    has_mortgage: bool | None = None
    receiving: list[str] | None = None
    # Ranges a family chose instead of a number (the /find buttons); a range is evaluated as
    # a range: met only if all of it meets a rule, failed only if all of it fails.
    # Income per person a month in multiples of the region's per-capita subsistence minimum,
    # from min (included) to max (excluded; null: no upper end).
    income_range_pm: tuple[float, float | None] | None = None
    # Completed weeks of pregnancy, both ends included, as of `as_of`.
    pregnancy_weeks_range: tuple[int, int] | None = None
    # The mother's completed years, both ends included, as of `as_of`.
    mother_age_range: tuple[int, int] | None = None

    @field_validator("income_range_pm")
    @classmethod
    def _income_ordered(
        cls, value: tuple[float, float | None] | None
    ) -> tuple[float, float | None] | None:
        if value is not None and not (
            value[0] >= 0 and (value[1] is None or value[0] < value[1] <= 100)
        ):
            raise ValueError(
                "income_range_pm must be [min, max] with 0 <= min < max, or [min, null]"
            )
        return value

    @field_validator("pregnancy_weeks_range")
    @classmethod
    def _weeks_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] <= value[1] <= 45:
            raise ValueError("pregnancy_weeks_range must be [min, max] with 0 <= min <= max <= 45")
        return value

    @field_validator("mother_age_range")
    @classmethod
    def _mother_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 10 <= value[0] <= value[1] <= 80:
            raise ValueError("mother_age_range must be [min, max] with 10 <= min <= max <= 80")
        return value


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
    "single_parent": ("single_parent", "not_single_parent"),
    "employed": ("employed", "not_employed"),
    "carer_employed": ("carer_employed", "carer_not_employed"),
    "student": ("student", "not_student"),
    "has_mortgage": ("has_mortgage", "no_mortgage"),
    "citizen": ("citizen", "not_citizen"),
}
REASON_CODES = (
    *(code for pair in BOOL_CODES.values() for code in pair),
    "pregnancy_weeks",
    "pregnancy_weeks_max",
    "child",
    "children",
    "nth_child",
    "every_child",
    "youngest_child",
    "after_birth",
    "mother_age",
    "mother_age_min",
    "income",
    "citizenship_years",
    "citizen_at_birth",
    "years_in_region",
    "once",
    "already_receiving",
    "check",
    "unconfirmed",
    ANY_OF,
    NO_RULES,
)
# Extra text variants some codes use besides met / not_met / unknown.
REASON_VARIANTS: Mapping[str, tuple[str, ...]] = {
    "child": ("not_met_none",),
    "income": ("no_region", "met_le", "not_met_lt", "at_threshold", "range_unknown"),
    "pregnancy_weeks": ("range_unknown",),
    "pregnancy_weeks_max": ("range_unknown",),
    "carer_not_employed": ("part_time",),
    "check": tuple(check.value for check in ExtraCheck),
}

_RANK = {Verdict.ELIGIBLE: 0, Verdict.MAYBE: 1, Verdict.NOT_ELIGIBLE: 2}

# One condition checked: its value and the reasons that explain it.
_Check = tuple[Tri, list[Reason]]
# The range of days a child was born in, both ends included; None: nothing known.
_Born = tuple[dt.date, dt.date] | None


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


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _years_before(day: dt.date, years: float) -> dt.date:
    return months_before(day, round(years * 12))


_ONE_DAY = dt.timedelta(days=1)


def _born_between(ref: dt.date, low: float, high: float) -> tuple[dt.date, dt.date]:
    """Born so as to be aged from `low` (included) to `high` (excluded) years on `ref`."""
    return _years_before(ref, high) + _ONE_DAY, _years_before(ref, low)


def _born(child: Child, ref: dt.date) -> _Born:
    if child.birth_date is not None:
        parts = [int(part) for part in child.birth_date.split("-")]
        if len(parts) == 3:
            day = dt.date(parts[0], parts[1], parts[2])
            return day, day
        if len(parts) == 2:
            last = calendar.monthrange(parts[0], parts[1])[1]
            return dt.date(parts[0], parts[1], 1), dt.date(parts[0], parts[1], last)
        return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31)
    if child.age_range is not None:
        return _born_between(ref, *child.age_range)
    if child.age_years is not None:
        age = child.age_years
        if age == int(age):
            return _born_between(ref, age, age + 1)
        months = round(age * 12)
        return _born_between(ref, months / 12, (months + 1) / 12)
    return None


def child_ages(data: Mapping[str, Any], today: dt.date | None = None) -> list[float]:
    """Rough ages (years, the middle of what is known) of a saved profile's children, for
    targeting announcements; children without any age are left out."""
    try:
        profile = FamilyProfile.model_validate(data)
    except ValueError:
        return []
    day = today or dt.datetime.now(dt.UTC).date()
    ref = profile.as_of or day
    ages = []
    for child in profile.children or []:
        window = _born(child, ref)
        if window is not None:
            middle = window[0] + (window[1] - window[0]) / 2
            ages.append(max((day - middle).days, 0) / 365.25)
    return ages


@dataclass(frozen=True)
class _Family:
    """The profile as it stands on the evaluation day."""

    measure_id: str
    profile: FamilyProfile
    today: dt.date
    minimum: SubsistenceMinimum | None
    born: list[_Born] | None
    pregnant: Tri
    # Weeks of pregnancy today, the least and the most possible.
    weeks: tuple[float, float] | None
    # The days the mother may have been born in.
    mother: _Born

    def youngest_born(self) -> _Born:
        """The latest birth window among the children: None if unknown or no children."""
        if not self.born or any(b is None for b in self.born):
            return None
        return max((b for b in self.born if b is not None), key=lambda b: b[1])


def _family(
    measure_id: str, profile: FamilyProfile, today: dt.date, minimum: SubsistenceMinimum | None
) -> _Family:
    ref = profile.as_of or today
    born = None if profile.children is None else [_born(c, ref) for c in profile.children]
    weeks: tuple[float, float] | None = None
    passed = (today - ref).days / 7
    if profile.due_date is not None:
        point = 40 - (profile.due_date - today).days / 7
        weeks = point, point
    elif profile.pregnancy_weeks is not None:
        weeks = profile.pregnancy_weeks + passed, profile.pregnancy_weeks + passed
    elif profile.pregnancy_weeks_range is not None:
        low, high = profile.pregnancy_weeks_range
        # Completed weeks: `high` weeks runs up to (not including) high + 1.
        weeks = low + passed, high + passed + 1 - 1e-6
    pregnant: Tri = profile.pregnant
    if pregnant is None and weeks is not None:
        pregnant = True  # a term given without the yes/no answer still says "pregnant"
    if pregnant is True and weeks is not None and weeks[0] > 42:
        pregnant, weeks = None, None  # the baby is probably born: ask again
    mother: _Born = None
    if profile.mother_birth_year is not None:
        year = profile.mother_birth_year
        mother = dt.date(year, 1, 1), dt.date(year, 12, 31)
    elif profile.mother_age is not None:
        mother = _born_between(ref, profile.mother_age, profile.mother_age + 1)
    elif profile.mother_age_range is not None:
        youngest, oldest = profile.mother_age_range
        mother = _born_between(ref, youngest, oldest + 1)
    return _Family(measure_id, profile, today, minimum, born, pregnant, weeks, mother)


def _window_tri(born: _Born, low: dt.date, high: dt.date) -> Tri:
    if born is None:
        return None
    first, last = born
    if last < low or first > high:
        return False
    if low <= first and last <= high:
        return True
    return None


def _child_tri(rule: ChildRule, child: Child, born: _Born, today: dt.date) -> Tri:
    values: list[Tri] = []
    low, high = dt.date.min, dt.date.max
    if rule.age_min is not None:
        high = min(high, _years_before(today, rule.age_min))
    if rule.age_under is not None:
        low = max(low, _years_before(today, rule.age_under) + _ONE_DAY)
    if rule.age_at_most is not None:
        low = max(low, _years_before(today, rule.age_at_most))
    if rule.age_max_incl is not None:
        low = max(low, _years_before(today, rule.age_max_incl + 1) + _ONE_DAY)
    if rule.born_from is not None:
        low = max(low, rule.born_from)
    if rule.born_to is not None:
        high = min(high, rule.born_to)
    if (low, high) != (dt.date.min, dt.date.max):
        values.append(_window_tri(born, low, high))
    if rule.disabled is not None:
        values.append(None if child.disabled is None else child.disabled == rule.disabled)
    if rule.full_time_student is not None:
        student = child.full_time_student
        values.append(None if student is None else student == rule.full_time_student)
    if rule.any_of:
        values.append(_any(_child_tri(alt, child, born, today) for alt in rule.any_of))
    return _all(values)


def _matches(rule: ChildRule | None, family: _Family) -> list[Tri] | None:
    """Per child: does it match the rule; None when the children were not asked about."""
    children, born = family.profile.children, family.born
    if children is None or born is None:
        return None
    if rule is None:
        return [True] * len(children)
    return [_child_tri(rule, c, b, family.today) for c, b in zip(children, born, strict=True)]


def _what(rule: ChildRule | None) -> str:
    return "" if rule is None else rule.model_dump_json(exclude_defaults=True)


def _child_check(rule: ChildRule, family: _Family) -> _Check:
    matches = _matches(rule, family)
    params: dict[str, ParamValue] = {"what": _what(rule)}
    if matches is None:
        return None, [Reason("child", params, None)]
    if not matches:
        return False, [Reason("child", {**params, "none": 1}, False)]
    value = _any(matches)
    return value, [Reason("child", params, value)]


def _count_check(rule: ChildCount, family: _Family) -> _Check:
    matches = _matches(rule.where, family)
    params: dict[str, ParamValue] = {"what": _what(rule.where), "min": rule.min}
    if matches is None:
        return None, [Reason("children", params, None)]
    sure = sum(1 for m in matches if m is True)
    possible = sum(1 for m in matches if m is not False)
    value: Tri = True if sure >= rule.min else False if possible < rule.min else None
    return value, [Reason("children", params, value)]


def _nth_check(rule: NthChild, family: _Family) -> _Check:
    """The rule.from_-th or later child matches; birth order from the birth windows."""
    matches = _matches(rule.where, family)
    params: dict[str, ParamValue] = {"what": _what(rule.where), "n": rule.from_}
    if matches is None or family.born is None:
        return None, [Reason("nth_child", params, None)]
    born = family.born
    value: Tri = False
    for i, match in enumerate(matches):
        if match is False:
            continue
        mine = born[i]
        others = [b for j, b in enumerate(born) if j != i]
        # Surely older: born no later than this child's earliest day (twins count as older).
        older = sum(1 for b in others if b is not None and mine is not None and b[1] <= mine[0])
        maybe_older = sum(1 for b in others if b is None or mine is None or b[0] <= mine[1])
        if match is True and older + 1 >= rule.from_:
            value = True
            break
        if maybe_older + 1 >= rule.from_:
            value = None
    return value, [Reason("nth_child", params, value)]


def _every_check(rule: ChildRule, family: _Family) -> _Check:
    matches = _matches(rule, family)
    params: dict[str, ParamValue] = {"what": _what(rule)}
    if matches is None:
        return None, [Reason("every_child", params, None)]
    value = _all(matches) if matches else False
    return value, [Reason("every_child", params, value)]


def _youngest_check(least: float, family: _Family) -> _Check:
    matches = _matches(ChildRule(age_min=least), family)
    params: dict[str, ParamValue] = {"min": least}
    if matches is None:
        return None, [Reason("youngest_child", params, None)]
    value = _all(matches) if matches else False
    return value, [Reason("youngest_child", params, value)]


def _after_birth_check(family: _Family) -> _Check:
    children = family.profile.children
    value: Tri = None if children is None else bool(children)
    return value, [Reason("after_birth", {}, value)]


def _bool_check(field: str, required: bool, actual: Tri) -> _Check:
    yes_code, no_code = BOOL_CODES[field]
    value = None if actual is None else actual == required
    return value, [Reason(yes_code if required else no_code, {}, value)]


def _income_check(rule: Income, family: _Family) -> _Check:
    minimum = family.minimum
    if minimum is None:
        return None, [Reason("income", {}, None)]
    threshold = round(rule.max_pm * minimum.per_capita, 2)
    params: dict[str, ParamValue] = {"threshold": threshold, "op": rule.op.value}
    income = family.profile.income_per_person
    if income is None and family.profile.income_range_pm is not None:
        return _income_range_check(rule, family.profile.income_range_pm, minimum, params)
    if income is None:
        return None, [Reason("income", params, None)]
    value: Tri
    if income == threshold:
        value = {IncomeOp.LE: True, IncomeOp.LT: False, IncomeOp.UNCLEAR: None}[rule.op]
    else:
        value = income < threshold
    return value, [Reason("income", {**params, "income": income}, value)]


def _income_range_check(
    rule: Income,
    span: tuple[float, float | None],
    minimum: SubsistenceMinimum,
    params: dict[str, ParamValue],
) -> _Check:
    """Income from low (included) to high (excluded) ПМ, compared in ПМ: exact."""
    low, high = span
    value: Tri
    if high is not None and high <= rule.max_pm:
        value = True  # every income in the range is below the threshold
    elif low > rule.max_pm or (low == rule.max_pm and rule.op is IncomeOp.LT):
        value = False
    else:
        value = None
    shown: dict[str, ParamValue] = {"income_min": round(low * minimum.per_capita, 2)}
    if high is not None:
        shown["income_max"] = round(high * minimum.per_capita, 2)
    return value, [Reason("income", {**params, **shown}, value)]


def _years_check(code: str, least: int, actual: float | None, gate: Tri) -> _Check:
    params: dict[str, ParamValue] = {"min": least}
    if gate is False:
        return False, [Reason("citizen", {}, False)]
    if actual is None:
        return None, [Reason(code, params, None)]
    value = actual >= least
    return value, [Reason(code, params, value)]


def _mother_check(code: str, bound: int, family: _Family, at_birth: bool = False) -> _Check:
    """Mother's completed years: at most `bound` ("mother_age", on the youngest child's
    birthday when `at_birth`) or at least `bound` ("mother_age_min", today)."""
    at_most = code == "mother_age"
    params: dict[str, ParamValue] = {"max" if at_most else "min": bound}
    mother = family.mother
    if mother is None:
        return None, [Reason(code, params, None)]
    first, last = mother
    value: Tri
    if at_most:
        # Aged at most `bound` on day D: born after D - (bound + 1) years.
        day_low, day_high = family.today, family.today
        if at_birth:
            born = family.youngest_born()
            day_low, day_high = born if born is not None else (dt.date.min, family.today)
        limit_high = _years_before(day_high, bound + 1)
        if first > limit_high:
            value = True
        elif day_low != dt.date.min and last <= _years_before(day_low, bound + 1):
            value = False
        else:
            value = None
    else:
        limit = _years_before(family.today, bound)
        value = True if last <= limit else False if first > limit else None
    return value, [Reason(code, params, value)]


def _citizen_at_birth_check(family: _Family) -> _Check:
    profile = family.profile
    if profile.citizen is False:
        return False, [Reason("citizen", {}, False)]
    years = profile.citizenship_years
    born = family.youngest_born()
    if profile.citizen is None or years is None or born is None:
        return None, [Reason("citizen_at_birth", {}, None)]
    ref = profile.as_of or family.today
    # Citizen for `years` (completed) on ref: since a day in (ref - years - 1, ref - years].
    since_first = _years_before(ref, math.floor(years) + 1) + _ONE_DAY
    since_last = _years_before(ref, years)
    value: Tri = True if since_last <= born[0] else False if since_first > born[1] else None
    return value, [Reason("citizen_at_birth", {}, value)]


def _receiving_check(family: _Family, once: bool) -> _Check:
    code = "once" if once else "already_receiving"
    receiving = family.profile.receiving
    if receiving is None:
        return None, [Reason(code, {}, None)]
    has = family.measure_id in receiving
    value = not has if once else has
    return value, [Reason(code, {}, value)]


def _checks(rules: Conditions, family: _Family) -> list[_Check]:
    """Each set condition checked, in the order a family reads them: children first."""
    profile = family.profile
    checks: list[_Check] = []
    if rules.pregnant is not None:
        checks.append(_bool_check("pregnant", rules.pregnant, family.pregnant))
    for code, bound in (
        ("pregnancy_weeks", rules.pregnancy_weeks_min),
        ("pregnancy_weeks_max", rules.pregnancy_weeks_max),
    ):
        if bound is None:
            continue
        if family.pregnant is False:
            checks.append((False, [Reason("pregnant", {}, False)]))
        elif family.weeks is None:
            checks.append((None, [Reason(code, {"bound": bound}, None)]))
        else:
            least, most = (math.floor(w) for w in family.weeks)
            value: Tri
            if code == "pregnancy_weeks":
                value = True if least >= bound else False if most < bound else None
            else:
                value = True if most <= bound else False if least > bound else None
            params: dict[str, ParamValue] = {"bound": bound, "weeks": least}
            if most != least:
                params = {"bound": bound, "weeks_min": least, "weeks_max": most}
            checks.append((value, [Reason(code, params, value)]))
    if rules.after_birth:
        checks.append(_after_birth_check(family))
    if rules.child is not None:
        checks.append(_child_check(rules.child, family))
    if rules.children is not None:
        checks.append(_count_check(rules.children, family))
    if rules.nth_child is not None:
        checks.append(_nth_check(rules.nth_child, family))
    if rules.every_child is not None:
        checks.append(_every_check(rules.every_child, family))
    if rules.youngest_child_age_min is not None:
        checks.append(_youngest_check(rules.youngest_child_age_min, family))
    if rules.mother_age_max_incl is not None:
        bound = rules.mother_age_max_incl
        checks.append(_mother_check("mother_age", bound, family, rules.mother_age_at_birth))
    if rules.mother_age_min is not None:
        checks.append(_mother_check("mother_age_min", rules.mother_age_min, family))
    if rules.single_parent is not None:
        checks.append(_bool_check("single_parent", rules.single_parent, profile.single_parent))
    if rules.income is not None:
        checks.append(_income_check(rules.income, family))
    if rules.employed is not None:
        checks.append(_bool_check("employed", rules.employed, profile.employed))
    if rules.carer_employed is not None:
        carer = _bool_check("carer_employed", rules.carer_employed, profile.carer_employed)
        if carer[0] is False and rules.carer_employed is False:
            # Since 2024 a working parent keeps the payment when the job is part-time.
            carer = None, [Reason("carer_not_employed", {"part_time": 1}, None)]
        checks.append(carer)
    if rules.student is not None:
        checks.append(_bool_check("student", rules.student, profile.student))
    if rules.has_mortgage is not None:
        checks.append(_bool_check("has_mortgage", rules.has_mortgage, profile.has_mortgage))
    if rules.citizen is not None:
        checks.append(_bool_check("citizen", rules.citizen, profile.citizen))
    if rules.citizenship_years_min is not None:
        checks.append(
            _years_check(
                "citizenship_years",
                rules.citizenship_years_min,
                profile.citizenship_years,
                profile.citizen,
            )
        )
    if rules.years_in_region_min is not None:
        checks.append(
            _years_check(
                "years_in_region", rules.years_in_region_min, profile.years_in_region, None
            )
        )
    if rules.citizen_at_child_birth:
        checks.append(_citizen_at_birth_check(family))
    if rules.once:
        checks.append(_receiving_check(family, once=True))
    if rules.already_receiving:
        checks.append(_receiving_check(family, once=False))
    if rules.any_of:
        checks.append(_any_of_check(rules.any_of, family))
    for extra in rules.extra_checks:
        checks.append((None, [Reason("check", {"check": extra.value}, None)]))
    if rules.unconfirmed:
        checks.append((None, [Reason("unconfirmed", {}, None)]))
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


def _any_of_check(alternatives: list[Conditions], family: _Family) -> _Check:
    combined = [_combine(_checks(alt, family)) for alt in alternatives]
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
    measure: Measure,
    profile: FamilyProfile,
    minimum: SubsistenceMinimum | None,
    today: dt.date | None = None,
) -> MeasureVerdict:
    """One measure's verdict for the family on `today` (default: the UTC date).

    Eligible only when every condition is known and met; not eligible only when a known fact
    fails one; otherwise maybe, with the unknown conditions as reasons.
    """
    rules = measure.eligibility.rules
    if not has_rules(rules):
        return MeasureVerdict(measure.id, Verdict.MAYBE, (Reason(NO_RULES, {}, None),))
    family = _family(measure.id, profile, today or dt.datetime.now(dt.UTC).date(), minimum)
    value, reasons = _combine(_checks(rules, family))
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
    measures: Iterable[Measure],
    profile: FamilyProfile,
    regions: Mapping[str, Region],
    today: dt.date | None = None,
) -> list[MeasureVerdict]:
    """Verdicts for the measures of the family's region, best first (stable within ties)."""
    region = regions.get(profile.region) if profile.region is not None else None
    minimum = region.subsistence_minimum if region is not None else None
    verdicts = [
        evaluate(measure, profile, minimum, today)
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
    cents = round(value * 100)
    if cents % 100 == 0:
        return t("screener.money", amount=_number(cents // 100, t.lang))
    return t("screener.money", amount=format_number(cents / 100, t.lang, decimals=2))


def _money_range(params: Mapping[str, ParamValue], t: Translator) -> str:
    """The income range a family chose: «меньше 14 000 ₽», «от 14 000 до 28 000 ₽»."""
    low = float(params["income_min"])
    if "income_max" not in params:
        return t("screener.money_range.over", min=_money(low, t))
    high = _money(float(params["income_max"]), t)
    if low == 0:
        return t("screener.money_range.under", max=high)
    return t("screener.money_range.between", min=_money(low, t), max=high)


def _state(reason: Reason) -> str:
    return {True: "met", False: "not_met", None: "unknown"}[reason.met]


_Rendered = tuple[str, dict[str, Any]]


def _date(day: dt.date, t: Translator) -> str:
    return format_day(day, t.lang)


def _describe(rule: ChildRule, t: Translator) -> str:
    """A child rule in words: «до 18 лет», «с датой рождения с 1 января 2019 по …»."""
    parts: list[str] = []
    high = rule.age_under
    if rule.age_max_incl is not None:
        parts.append(t("screener.child.age_max_incl", max=_age(rule.age_max_incl, t, True)))
    if rule.age_at_most is not None:
        parts.append(t("screener.child.age_at_most", max=_age(rule.age_at_most, t, True)))
    if rule.age_min is not None and high is not None:
        parts.append(_age_range({"min": rule.age_min, "max": high}, t))
    elif high is not None:
        parts.append(_age_range({"max": high}, t))
    elif rule.age_min is not None:
        parts.append(_age_range({"min": rule.age_min}, t))
    if rule.born_from is not None and rule.born_to is not None:
        first, last = _date(rule.born_from, t), _date(rule.born_to, t)
        parts.append(t("screener.child.born_between", first=first, last=last))
    elif rule.born_from is not None:
        parts.append(t("screener.child.born_from", first=_date(rule.born_from, t)))
    elif rule.born_to is not None:
        parts.append(t("screener.child.born_to", last=_date(rule.born_to, t)))
    if rule.disabled is not None:
        parts.append(t(f"screener.child.{'disabled' if rule.disabled else 'not_disabled'}"))
    if rule.full_time_student is not None:
        key = "student" if rule.full_time_student else "not_student"
        parts.append(t(f"screener.child.{key}"))
    if rule.any_of:
        alternatives = [_describe(alt, t) for alt in rule.any_of]
        joined = f" {t('screener.or')} ".join(alternatives)
        parts.append(f"({joined})" if parts else joined)
    return " ".join(parts)


def _what_text(params: Mapping[str, ParamValue], t: Translator) -> str:
    raw = str(params.get("what", ""))
    if not raw:
        return ""
    return " " + _describe(ChildRule.model_validate_json(raw), t)


def _render_child(reason: Reason, t: Translator) -> _Rendered:
    fields = {"what": _what_text(reason.params, t)}
    if reason.met is False and "none" in reason.params:
        return "not_met_none", fields
    return _state(reason), fields


def _render_children(reason: Reason, t: Translator) -> _Rendered:
    return _state(reason), {"what": _what_text(reason.params, t), "min": reason.params["min"]}


def _render_nth_child(reason: Reason, t: Translator) -> _Rendered:
    return _state(reason), {"what": _what_text(reason.params, t), "n": reason.params["n"]}


def _render_years_min(reason: Reason, t: Translator) -> _Rendered:
    return _state(reason), {"min": _unit(t, "year_gen", float(reason.params["min"]))}


def _render_youngest(reason: Reason, t: Translator) -> _Rendered:
    return _state(reason), {"min": _age(float(reason.params["min"]), t, genitive=True)}


def _render_weeks(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    fields: dict[str, Any] = {"bound": _unit(t, "week_gen", float(params["bound"]))}
    if "weeks_min" in params:
        least, most = float(params["weeks_min"]), float(params["weeks_max"])
        shown = f"{_number(least, t.lang)}–{_number(most, t.lang)}"
        fields["weeks"] = _unit(t, "week", most, shown)
        return ("range_unknown" if reason.met is None else _state(reason)), fields
    if reason.met is None:
        return "unknown", fields
    return _state(reason), {**fields, "weeks": _unit(t, "week", float(params["weeks"]))}


def _render_mother_age(reason: Reason, t: Translator) -> _Rendered:
    bound = reason.params.get("max", reason.params.get("min", 0))
    return _state(reason), {"bound": _age(float(bound), t, genitive=True)}


def _render_income(reason: Reason, t: Translator) -> _Rendered:
    params = reason.params
    if "threshold" not in params:
        return "no_region", {}
    fields: dict[str, Any] = {"threshold": _money(float(params["threshold"]), t)}
    ranged = "income_min" in params
    if reason.met is None and "income" not in params and not ranged:
        return "unknown", fields
    if ranged:
        fields["income"] = _money_range(params, t)
    else:
        fields["income"] = _money(float(params["income"]), t)
    op = params.get("op")
    if reason.met is None:
        return ("range_unknown" if ranged else "at_threshold"), fields
    if reason.met is True and op == IncomeOp.LE.value:
        return "met_le", fields
    if reason.met is False and op != IncomeOp.LE.value:
        return "not_met_lt", fields
    return _state(reason), fields


def _render_check(reason: Reason, t: Translator) -> _Rendered:
    return str(reason.params["check"]), {}


def _render_carer(reason: Reason, t: Translator) -> _Rendered:
    return ("part_time" if "part_time" in reason.params else _state(reason)), {}


_RENDERERS: Mapping[str, Callable[[Reason, Translator], _Rendered]] = {
    "child": _render_child,
    "children": _render_children,
    "nth_child": _render_nth_child,
    "every_child": _render_child,
    "youngest_child": _render_youngest,
    "pregnancy_weeks": _render_weeks,
    "pregnancy_weeks_max": _render_weeks,
    "mother_age": _render_mother_age,
    "mother_age_min": _render_mother_age,
    "income": _render_income,
    "citizenship_years": _render_years_min,
    "years_in_region": _render_years_min,
    "check": _render_check,
    "carer_not_employed": _render_carer,
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
