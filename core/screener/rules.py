"""A measure's conditions applied to a family's facts in three-valued logic (holds, fails,
unknown), each with the reasons that explain it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence

from core.catalogue.schema import (
    ChildCount,
    ChildRule,
    Conditions,
    Income,
    IncomeOp,
    Level,
    Measure,
    NthChild,
    Region,
    SubsistenceMinimum,
)
from core.screener.profile import (
    ONE_DAY,
    BirthWindow,
    Child,
    FamilyFacts,
    FamilyProfile,
    ParamValue,
    Tri,
    family_facts,
    years_before,
)
from core.screener.verdicts import (
    ANY_OF,
    BOOL_CODES,
    NO_RULES,
    VERDICT_RANK,
    MeasureVerdict,
    Reason,
    Verdict,
)

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


def _window_tri(born: BirthWindow, low: dt.date, high: dt.date) -> Tri:
    if born is None:
        return None
    first, last = born
    if last < low or first > high:
        return False
    if low <= first and last <= high:
        return True
    return None


def _child_tri(rule: ChildRule, child: Child, born: BirthWindow, today: dt.date) -> Tri:
    values: list[Tri] = []
    low, high = dt.date.min, dt.date.max
    if rule.age_min is not None:
        high = min(high, years_before(today, rule.age_min))
    if rule.age_under is not None:
        low = max(low, years_before(today, rule.age_under) + ONE_DAY)
    if rule.age_at_most is not None:
        low = max(low, years_before(today, rule.age_at_most))
    if rule.age_max_incl is not None:
        low = max(low, years_before(today, rule.age_max_incl + 1) + ONE_DAY)
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


def _matches(rule: ChildRule | None, family: FamilyFacts) -> list[Tri] | None:
    """Per child: does it match the rule; None when the children were not asked about."""
    children, born = family.profile.children, family.born
    if children is None or born is None:
        return None
    if rule is None:
        return [True] * len(children)
    return [_child_tri(rule, c, b, family.today) for c, b in zip(children, born, strict=True)]


def _what(rule: ChildRule | None) -> str:
    return "" if rule is None else rule.model_dump_json(exclude_defaults=True)


def _child_check(rule: ChildRule, family: FamilyFacts) -> _Check:
    matches = _matches(rule, family)
    params: dict[str, ParamValue] = {"what": _what(rule)}
    if matches is None:
        return None, [Reason("child", params, None)]
    if not matches:
        return False, [Reason("child", {**params, "none": 1}, False)]
    value = _any(matches)
    return value, [Reason("child", params, value)]


def _count_check(rule: ChildCount, family: FamilyFacts) -> _Check:
    matches = _matches(rule.where, family)
    params: dict[str, ParamValue] = {"what": _what(rule.where), "min": rule.min}
    if matches is None:
        return None, [Reason("children", params, None)]
    sure = sum(1 for m in matches if m is True)
    possible = sum(1 for m in matches if m is not False)
    value: Tri = True if sure >= rule.min else False if possible < rule.min else None
    return value, [Reason("children", params, value)]


def _nth_check(rule: NthChild, family: FamilyFacts) -> _Check:
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


def _every_check(rule: ChildRule, family: FamilyFacts) -> _Check:
    matches = _matches(rule, family)
    params: dict[str, ParamValue] = {"what": _what(rule)}
    if matches is None:
        return None, [Reason("every_child", params, None)]
    value = _all(matches) if matches else False
    return value, [Reason("every_child", params, value)]


def _youngest_check(least: float, family: FamilyFacts) -> _Check:
    matches = _matches(ChildRule(age_min=least), family)
    params: dict[str, ParamValue] = {"min": least}
    if matches is None:
        return None, [Reason("youngest_child", params, None)]
    value = _all(matches) if matches else False
    return value, [Reason("youngest_child", params, value)]


def _after_birth_check(family: FamilyFacts) -> _Check:
    children = family.profile.children
    value: Tri = None if children is None else bool(children)
    return value, [Reason("after_birth", {}, value)]


def _bool_check(field: str, required: bool, actual: Tri) -> _Check:
    yes_code, no_code = BOOL_CODES[field]
    value = None if actual is None else actual == required
    return value, [Reason(yes_code if required else no_code, {}, value)]


def _income_check(rule: Income, family: FamilyFacts) -> _Check:
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


def _mother_check(code: str, bound: int, family: FamilyFacts, at_birth: bool = False) -> _Check:
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
        limit_high = years_before(day_high, bound + 1)
        if first > limit_high:
            value = True
        elif day_low != dt.date.min and last <= years_before(day_low, bound + 1):
            value = False
        else:
            value = None
    else:
        limit = years_before(family.today, bound)
        value = True if last <= limit else False if first > limit else None
    return value, [Reason(code, params, value)]


def _citizen_at_birth_check(family: FamilyFacts) -> _Check:
    profile = family.profile
    if profile.citizen is False:
        return False, [Reason("citizen", {}, False)]
    years = profile.citizenship_years
    born = family.youngest_born()
    if profile.citizen is None or years is None or born is None:
        return None, [Reason("citizen_at_birth", {}, None)]
    ref = profile.as_of or family.today
    # Citizen for `years` (completed) on ref: since a day in (ref - years - 1, ref - years].
    since_first = years_before(ref, math.floor(years) + 1) + ONE_DAY
    since_last = years_before(ref, years)
    value: Tri = True if since_last <= born[0] else False if since_first > born[1] else None
    return value, [Reason("citizen_at_birth", {}, value)]


def _receiving_check(family: FamilyFacts, once: bool) -> _Check:
    code = "once" if once else "already_receiving"
    receiving = family.profile.receiving
    if receiving is None:
        return None, [Reason(code, {}, None)]
    has = family.measure_id in receiving
    value = not has if once else has
    return value, [Reason(code, {}, value)]


def _checks(rules: Conditions, family: FamilyFacts) -> list[_Check]:
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


def _any_of_check(alternatives: list[Conditions], family: FamilyFacts) -> _Check:
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
    family = family_facts(measure.id, profile, today or dt.datetime.now(dt.UTC).date(), minimum)
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
    return VERDICT_RANK[verdict.verdict], verdict.unknown_count


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
