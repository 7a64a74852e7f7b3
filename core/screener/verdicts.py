"""The screener's answer: a verdict per measure and the reasons behind it, with every
reason code the wording must cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.catalogue.schema import (
    ExtraCheck,
)
from core.screener.profile import ParamValue


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

VERDICT_RANK = {Verdict.ELIGIBLE: 0, Verdict.MAYBE: 1, Verdict.NOT_ELIGIBLE: 2}
