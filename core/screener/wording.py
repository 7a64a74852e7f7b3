"""Reasons and verdicts put into words in the reader's language, and the JSON of a match."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from core.catalogue.schema import (
    ChildRule,
    IncomeOp,
)
from core.screener.profile import ParamValue
from core.screener.verdicts import MeasureVerdict, Reason, Verdict
from core.texts import Translator, format_day, format_number


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
