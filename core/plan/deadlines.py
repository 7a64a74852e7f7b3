"""Application deadlines: the day a family must apply by, from the catalogue and its profile.

The catalogue holds the law's rule (`apply_within`: N months after the birth; `apply_window`:
a yearly window); this module turns the rule into a date for one family on one day. A date is
given only when the profile pins it down to a month: a birth year or an age range cannot say
whether six months have passed, so the plan shows the rule in words instead. When the birth
is known to the month only, the earliest possible day is used (a reminder a little early is
better than one after the deadline), and the deadline says it is estimated.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from core.catalogue.schema import ApplyWindow, Measure
from core.screener import FamilyProfile
from core.texts import Translator


class DeadlineKind(StrEnum):
    AFTER_BIRTH = "after_birth"  # N months after a child's birth (or the expected birth)
    WINDOW = "window"  # a yearly window: from `opens` to `due`


@dataclass(frozen=True)
class Deadline:
    """The last day (`due`, included) a family can apply for a measure.

    `opens`: a yearly window that has not opened yet on the day asked opens then (None: the
    family can apply now). `estimated`: the date rests on an expected birth or a birth month.
    `birth`: the (expected) birth the term is counted from, for the after-birth kind.
    """

    measure_id: str
    kind: DeadlineKind
    due: dt.date
    opens: dt.date | None = None
    estimated: bool = False
    birth: dt.date | None = None

    def passed(self, day: dt.date) -> bool:
        return day > self.due

    def days_left(self, day: dt.date) -> int:
        return (self.due - day).days


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later («через 6 месяцев»); the month's last day when shorter
    (31 August + 6 months = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _birth_known(birth_date: str | None) -> tuple[dt.date, bool] | None:
    """A birth date precise to the month: (the earliest possible day, estimated?)."""
    if birth_date is None:
        return None
    parts = [int(part) for part in birth_date.split("-")]
    if len(parts) == 3:
        return dt.date(parts[0], parts[1], parts[2]), False
    if len(parts) == 2:
        return dt.date(parts[0], parts[1], 1), True
    return None  # a year only: six months after it could be anywhere in a year


def _births(profile: FamilyProfile) -> list[tuple[dt.date, bool]]:
    births = [
        known
        for child in profile.children or []
        if (known := _birth_known(child.birth_date)) is not None
    ]
    if profile.due_date is not None and profile.pregnant is not False:
        births.append((profile.due_date, True))
    return births


def _after_birth(measure: Measure, profile: FamilyProfile, day: dt.date) -> Deadline | None:
    rule = measure.apply_within
    assert rule is not None
    candidates = [
        Deadline(
            measure.id,
            DeadlineKind.AFTER_BIRTH,
            add_months(birth, rule.months),
            estimated=estimated,
            birth=birth,
        )
        for birth, estimated in _births(profile)
    ]
    if not candidates:
        return None
    # The nearest deadline still open; when all have passed, the latest one (the plan says so).
    open_ = [d for d in candidates if not d.passed(day)]
    if open_:
        return min(open_, key=lambda d: d.due)
    return max(candidates, key=lambda d: d.due)


def _on(year: int, month_day: str) -> dt.date:
    month, dom = (int(part) for part in month_day.split("-"))
    return dt.date(year, month, dom)


def window_on(window: ApplyWindow, day: dt.date, measure_id: str) -> Deadline:
    """This year's window if it has not closed by `day`, else next year's."""
    year = day.year if day <= _on(day.year, window.closes) else day.year + 1
    due = _on(year, window.closes)
    opens = _on(year, window.opens) if window.opens is not None else None
    return Deadline(
        measure_id,
        DeadlineKind.WINDOW,
        due,
        opens=opens if opens is not None and day < opens else None,
    )


def deadline_of(measure: Measure, profile: FamilyProfile | None, day: dt.date) -> Deadline | None:
    """The family's deadline for applying for `measure`, as it stands on `day`.

    None when the law sets none (the catalogue has no rule) or the profile cannot date it
    (no birth known to the month, no due date). A yearly window needs no profile.
    """
    if measure.apply_within is not None:
        return _after_birth(measure, profile, day) if profile is not None else None
    if measure.apply_window is not None:
        return window_on(measure.apply_window, day, measure.id)
    return None


def describe_rule(measure: Measure, t: Translator) -> str | None:
    """The rule in words («в течение 6 месяцев после рождения»), with its note; None if none."""
    if measure.apply_within is not None:
        rule = measure.apply_within
        text = t.plural(f"plan.deadline.within.{rule.after.value}", rule.months)
        note = t.pick(rule.note, rule.note_en) if rule.note else None
    elif measure.apply_window is not None:
        window = measure.apply_window
        closes = _on(2001, window.closes)
        if window.opens is not None:
            text = t(
                "plan.deadline.window",
                opens=t.day(_on(2001, window.opens), year=False),
                closes=t.day(closes, year=False),
            )
        else:
            text = t("plan.deadline.window_closes", closes=t.day(closes, year=False))
        note = t.pick(window.note, window.note_en) if window.note else None
    else:
        return None
    return f"{text} ({note})" if note else text


def describe_deadline(deadline: Deadline, t: Translator, day: dt.date) -> str:
    """The date in words as it stands on `day`: «подать до 15 июня 2027 (осталось 30 дней)»."""
    due = t.day(deadline.due)
    if deadline.passed(day):
        return t("plan.deadline.passed", date=due)
    if deadline.opens is not None:
        return t("plan.deadline.opens", opens=t.day(deadline.opens), date=due)
    left = t.plural("plan.deadline.days_left", deadline.days_left(day))
    key = "plan.deadline.due_estimated" if deadline.estimated else "plan.deadline.due"
    return t(key, date=due, left=left)
