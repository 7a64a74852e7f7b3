"""Which reminders are due for a family on a day: pure functions of its profile and plan.

Each reminder has a window of days (a month before the date it is about, up to that date), so
a job that missed a day, or a profile saved a week into the window, still gets it; the key
(kind and what it is about) keeps it to once. Only dates the family gave are used: a child's
birth month must be known (a year alone, or an age range from the /find buttons, cannot say
in which month a child turns 1.5 — the family is told so in /reminders).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.reminders.kinds import MEASURE_OF, UNIFIED_ALLOWANCE, ReminderKind
from core.screener import FamilyProfile
from db.enums import PlanStatus

LEAD = dt.timedelta(days=30)  # how long before a date its reminder may come
# The family tax payment is applied for from June 1 to October 1 (179-FZ).
TAX_WINDOW_OPENS = (6, 1)
TAX_WINDOW_CLOSES = (10, 1)
PREGNANCY_WEEK = 12
FULL_TERM_WEEKS = 40
UNIFIED_GRANTED_MONTHS = 12
RENEWAL_MONTH = 10  # completed months since «получаем»: the 11th month is the one to renew in

# A plan step that says the family is past the point a reminder would make.
DONE = frozenset(
    {PlanStatus.APPLIED, PlanStatus.RECEIVING, PlanStatus.REFUSED, PlanStatus.NOT_NEEDED}
)
NOT_GETTING = frozenset({PlanStatus.REFUSED, PlanStatus.NOT_NEEDED})


@dataclass(frozen=True)
class PlanStep:
    measure_id: str
    status: PlanStatus
    status_at: dt.date


@dataclass(frozen=True)
class Due:
    kind: ReminderKind
    key: str
    measure_id: str | None
    # What the message needs, as JSON: dates as ISO strings, rendered in the family's language.
    params: dict[str, Any] = field(default_factory=dict)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def whole_months(start: dt.date, day: dt.date) -> int:
    """Completed months from `start` to `day`."""
    months = (day.year - start.year) * 12 + day.month - start.month
    return months - 1 if day.day < start.day else months


def month_known(birth_date: str | None) -> bool:
    return birth_date is not None and len(birth_date) >= 7


def children_without_month(profile: FamilyProfile) -> int:
    """Children whose age reminders cannot be timed: no birth month given."""
    return sum(1 for child in profile.children or [] if not month_known(child.birth_date))


def _turning(birth_date: str, months: int) -> tuple[dt.date, dt.date, dict[str, str]]:
    """The first and last day the child may turn `months` old, and how to say when."""
    parts = [int(part) for part in birth_date.split("-")]
    if len(parts) == 3:
        day = add_months(dt.date(parts[0], parts[1], parts[2]), months)
        return day, day, {"day": day.isoformat()}
    first = add_months(dt.date(parts[0], parts[1], 1), months)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first, last, {"month": first.isoformat()[:7]}


def _child_reminders(profile: FamilyProfile, day: dt.date) -> list[Due]:
    found: list[Due] = []
    for kind, months in ((ReminderKind.CHILD_1_5, 18), (ReminderKind.CHILD_3, 36)):
        for child in profile.children or []:
            if not month_known(child.birth_date):
                continue
            assert child.birth_date is not None
            first, last, when = _turning(child.birth_date, months)
            if first - LEAD <= day <= last:
                found.append(Due(kind, f"{kind}:{child.birth_date}", MEASURE_OF[kind], when))
    return found


def pregnancy_weeks(profile: FamilyProfile, day: dt.date) -> tuple[float, float] | None:
    """The least and the most completed weeks of pregnancy on `day`, as the screener counts."""
    if profile.pregnant is False:
        return None
    passed = (day - (profile.as_of or day)).days / 7
    if profile.due_date is not None:
        point = FULL_TERM_WEEKS - (profile.due_date - day).days / 7
        return point, point
    if profile.pregnancy_weeks is not None:
        return profile.pregnancy_weeks + passed, profile.pregnancy_weeks + passed
    if profile.pregnancy_weeks_range is not None:
        low, high = profile.pregnancy_weeks_range
        return low + passed, high + passed
    return None


def _pregnancy_reminder(profile: FamilyProfile, day: dt.date) -> Due | None:
    """Due once she is surely past week 12 and possibly not yet due to give birth."""
    weeks = pregnancy_weeks(profile, day)
    if weeks is None or weeks[0] < PREGNANCY_WEEK or weeks[1] >= FULL_TERM_WEEKS:
        return None
    started = day - dt.timedelta(weeks=weeks[0])
    kind = ReminderKind.PREGNANCY_12W
    return Due(kind, f"{kind}:{started.isoformat()[:7]}", MEASURE_OF[kind])


def _renewal_reminders(plan: Mapping[str, PlanStep], day: dt.date) -> list[Due]:
    step = plan.get(UNIFIED_ALLOWANCE)
    # A measure only listed in the profile's `receiving` has no date to count from.
    if step is None or step.status is not PlanStatus.RECEIVING or step.status_at == dt.date.min:
        return []
    if day < step.status_at:
        return []
    months = whole_months(step.status_at, day)
    if months % UNIFIED_GRANTED_MONTHS != RENEWAL_MONTH:
        return []
    cycle = months // UNIFIED_GRANTED_MONTHS
    ends = add_months(step.status_at, UNIFIED_GRANTED_MONTHS * (cycle + 1))
    kind = ReminderKind.UNIFIED_RENEWAL
    key = f"{kind}:{step.status_at.isoformat()}:{cycle}"
    return [Due(kind, key, UNIFIED_ALLOWANCE, {"day": ends.isoformat()})]


def _family_tax_reminder(plan: Mapping[str, PlanStep], day: dt.date) -> Due | None:
    opens = dt.date(day.year, *TAX_WINDOW_OPENS)
    closes = dt.date(day.year, *TAX_WINDOW_CLOSES)
    if not opens <= day < closes:
        return None
    kind = ReminderKind.FAMILY_TAX
    step = plan.get(MEASURE_OF[kind])
    if step is not None and (
        step.status in NOT_GETTING or (step.status in DONE and step.status_at >= opens)
    ):
        return None  # not for them, or already applied this year
    return Due(kind, f"{kind}:{day.year}", MEASURE_OF[kind], {"day": closes.isoformat()})


@dataclass(frozen=True)
class PlanDeadline:
    """The last day to apply for a planned measure; `estimated` when it rests on a birth
    month or a due date rather than a known day."""

    due: dt.date
    estimated: bool = False


def _deadline_reminders(
    plan: Mapping[str, PlanStep], deadlines: Mapping[str, PlanDeadline], day: dt.date
) -> list[Due]:
    found = []
    kind = ReminderKind.PLAN_DEADLINE
    for measure_id, deadline in sorted(deadlines.items()):
        step = plan.get(measure_id)
        if step is None or step.status is not PlanStatus.PLANNED:
            continue
        if deadline.due - LEAD <= day <= deadline.due:
            key = f"{kind}:{measure_id}:{deadline.due.isoformat()}"
            params = {"day": deadline.due.isoformat(), "estimated": deadline.estimated}
            found.append(Due(kind, key, measure_id, params))
    return found


def due_reminders(
    profile: FamilyProfile | None,
    plan: Sequence[PlanStep],
    day: dt.date,
    *,
    family_tax_fits: bool = False,
    deadlines: Mapping[str, PlanDeadline] | None = None,
) -> list[Due]:
    """Everything due on `day`, before mutes and before what was already sent.

    `family_tax_fits`: the screener does not rule the family tax payment out for them;
    `deadlines`: the application deadline of each measure in the plan that has one.
    """
    steps = {step.measure_id: step for step in plan}
    for measure_id in (profile.receiving or []) if profile is not None else []:
        steps.setdefault(measure_id, PlanStep(measure_id, PlanStatus.RECEIVING, dt.date.min))
    found: list[Due] = []
    if profile is not None:
        found += _child_reminders(profile, day)
        pregnancy = _pregnancy_reminder(profile, day)
        if pregnancy is not None:
            found.append(pregnancy)
    found += _renewal_reminders(steps, day)
    if family_tax_fits:
        tax = _family_tax_reminder(steps, day)
        if tax is not None:
            found.append(tax)
    found += _deadline_reminders(steps, deadlines or {}, day)
    return [due for due in found if not _settled(due, steps)]


def _settled(due: Due, steps: Mapping[str, PlanStep]) -> bool:
    """The family's plan already answers what this reminder would ask."""
    step = steps.get(due.measure_id or "")
    if step is None or due.kind in (ReminderKind.UNIFIED_RENEWAL, ReminderKind.PLAN_DEADLINE):
        return False
    if due.kind is ReminderKind.CHILD_3:
        return step.status in NOT_GETTING
    if due.kind is ReminderKind.FAMILY_TAX:
        return False  # judged by the year in _family_tax_reminder
    return step.status in DONE
