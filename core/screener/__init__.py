"""Eligibility screener: a family profile against the measures' rules, with reasons.

The rooms: `profile` (what the family said and the facts it gives on a day), `rules` (the
conditions applied, three-valued), `verdicts` (the answer and every reason code), `wording`
(reasons put into words, the JSON of a match).
"""

from core.screener.profile import Child, FamilyProfile, Tri, child_ages, months_before
from core.screener.rules import applies_to_region, evaluate, group_by_need, has_rules, screen
from core.screener.verdicts import (
    ANY_OF,
    BOOL_CODES,
    NO_RULES,
    REASON_CODES,
    REASON_VARIANTS,
    STATES,
    MeasureVerdict,
    Reason,
    Verdict,
)
from core.screener.wording import match_json, render_reason, render_verdict

__all__ = [
    "ANY_OF",
    "BOOL_CODES",
    "NO_RULES",
    "REASON_CODES",
    "REASON_VARIANTS",
    "STATES",
    "Child",
    "FamilyProfile",
    "MeasureVerdict",
    "Reason",
    "Tri",
    "Verdict",
    "applies_to_region",
    "child_ages",
    "evaluate",
    "group_by_need",
    "has_rules",
    "match_json",
    "months_before",
    "render_reason",
    "render_verdict",
    "screen",
]
