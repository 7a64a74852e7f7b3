"""Which reminder is due on which day, from the profile and the plan alone (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.reminders.dates import (
    PlanDeadline,
    PlanStep,
    children_without_month,
    due_reminders,
)
from core.reminders.kinds import daytime_not_before
from core.screener import Child, FamilyProfile
from db.enums import PlanStatus

D = dt.date


def kinds_on(profile: FamilyProfile | None, day: dt.date, **kwargs: object) -> list[str]:
    return [due.key for due in due_reminders(profile, [], day, **kwargs)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("birth", "day", "expected"),
    [
        # A full date: from 30 days before the day the child turns 1.5, up to that day.
        ("2025-06-10", D(2026, 11, 9), []),
        ("2025-06-10", D(2026, 11, 10), ["child_1_5:2025-06-10"]),
        ("2025-06-10", D(2026, 12, 10), ["child_1_5:2025-06-10"]),
        ("2025-06-10", D(2026, 12, 11), []),
        # A month only: the whole month the child turns 1.5, and the 30 days before it.
        ("2025-06", D(2026, 11, 1), ["child_1_5:2025-06"]),
        ("2025-06", D(2026, 12, 31), ["child_1_5:2025-06"]),
        ("2025-06", D(2027, 1, 1), []),
        # Three years.
        ("2023-12", D(2026, 12, 15), ["child_3:2023-12"]),
        # 31 August + 18 months is the end of February.
        ("2025-08-31", D(2027, 2, 28), ["child_1_5:2025-08-31"]),
        ("2025-08-31", D(2027, 3, 1), []),
        # A year alone says nothing about the month: never.
        ("2025", D(2026, 6, 30), []),
        ("2025", D(2026, 12, 31), []),
    ],
)
def test_child_ages(birth: str, day: dt.date, expected: list[str]) -> None:
    profile = FamilyProfile(children=[Child(birth_date=birth)])
    assert kinds_on(profile, day) == expected


def test_children_without_a_birth_month_are_counted() -> None:
    profile = FamilyProfile(
        children=[
            Child(birth_date="2025"),
            Child(age_range=(1, 1.5)),
            Child(birth_date="2024-02"),
            Child(age_years=4),
        ]
    )
    assert children_without_month(profile) == 3


@pytest.mark.parametrize(
    ("profile", "day", "due"),
    [
        (
            FamilyProfile(pregnant=True, pregnancy_weeks=10, as_of=D(2026, 11, 28)),
            D(2026, 12, 11),
            False,
        ),
        (
            FamilyProfile(pregnant=True, pregnancy_weeks=10, as_of=D(2026, 11, 28)),
            D(2026, 12, 12),
            True,
        ),
        # A button range: only once even its lower end has reached week 12.
        (
            FamilyProfile(pregnancy_weeks_range=(1, 11), as_of=D(2026, 11, 28)),
            D(2027, 1, 22),
            False,
        ),
        (
            FamilyProfile(pregnancy_weeks_range=(1, 11), as_of=D(2026, 11, 28)),
            D(2027, 2, 20),
            True,
        ),
        # A due date: 28 weeks before it is week 12.
        (FamilyProfile(due_date=D(2027, 6, 1)), D(2026, 11, 17), True),
        (FamilyProfile(due_date=D(2027, 6, 1)), D(2026, 11, 16), False),
        # Past the due date: no pregnancy to remind of.
        (FamilyProfile(due_date=D(2027, 6, 1)), D(2027, 6, 2), False),
        (FamilyProfile(pregnant=False, pregnancy_weeks=20), D(2026, 12, 1), False),
    ],
)
def test_pregnancy_week_12(profile: FamilyProfile, day: dt.date, due: bool) -> None:
    keys = kinds_on(profile, day)
    assert any(key.startswith("pregnancy_12w:") for key in keys) is due


def test_unified_allowance_renewal_in_the_11th_month_of_each_year() -> None:
    plan = [PlanStep("fed-unified-allowance-children", PlanStatus.RECEIVING, D(2026, 1, 15))]
    due = {
        day: [d.key for d in due_reminders(None, plan, day)]
        for day in (
            D(2026, 11, 14),
            D(2026, 11, 15),
            D(2026, 12, 14),
            D(2026, 12, 15),
            D(2027, 11, 20),
        )
    }
    assert due == {
        D(2026, 11, 14): [],
        D(2026, 11, 15): ["unified_renewal:2026-01-15:0"],
        D(2026, 12, 14): ["unified_renewal:2026-01-15:0"],
        D(2026, 12, 15): [],
        D(2027, 11, 20): ["unified_renewal:2026-01-15:1"],
    }
    applied = [PlanStep("fed-unified-allowance-children", PlanStatus.APPLIED, D(2026, 1, 15))]
    assert due_reminders(None, applied, D(2026, 11, 20)) == []


def test_family_tax_window_and_what_the_plan_says() -> None:
    fits = {"family_tax_fits": True}
    assert kinds_on(None, D(2027, 5, 31), **fits) == []
    assert kinds_on(None, D(2027, 6, 1), **fits) == ["family_tax:2027"]
    assert kinds_on(None, D(2027, 9, 30), **fits) == ["family_tax:2027"]
    assert kinds_on(None, D(2027, 10, 1), **fits) == []
    assert kinds_on(None, D(2027, 6, 1)) == [], "not for a family it does not fit"
    applied_this_year = [PlanStep("fed-family-tax-payment", PlanStatus.APPLIED, D(2027, 6, 3))]
    applied_last_year = [PlanStep("fed-family-tax-payment", PlanStatus.APPLIED, D(2026, 6, 3))]
    refused = [PlanStep("fed-family-tax-payment", PlanStatus.NOT_NEEDED, D(2026, 6, 3))]
    assert due_reminders(None, applied_this_year, D(2027, 7, 1), family_tax_fits=True) == []
    assert due_reminders(None, applied_last_year, D(2027, 7, 1), family_tax_fits=True)
    assert due_reminders(None, refused, D(2027, 7, 1), family_tax_fits=True) == []


def test_plan_deadline_only_while_planned_and_in_the_last_month() -> None:
    deadlines = {"fed-birth-grant": PlanDeadline(D(2027, 2, 15), estimated=True)}
    planned = [PlanStep("fed-birth-grant", PlanStatus.PLANNED, D(2026, 9, 1))]
    [due] = due_reminders(None, planned, D(2027, 1, 20), deadlines=deadlines)
    assert (due.key, due.params) == (
        "plan_deadline:fed-birth-grant:2027-02-15",
        {"day": "2027-02-15", "estimated": True},
    )
    assert due_reminders(None, planned, D(2027, 1, 15), deadlines=deadlines) == []
    assert due_reminders(None, planned, D(2027, 2, 16), deadlines=deadlines) == []
    applied = [PlanStep("fed-birth-grant", PlanStatus.APPLIED, D(2026, 9, 1))]
    assert due_reminders(None, applied, D(2027, 1, 20), deadlines=deadlines) == []


def test_a_plan_that_settles_the_question_silences_the_age_reminder() -> None:
    profile = FamilyProfile(children=[Child(birth_date="2025-06")])
    receiving = [PlanStep("fed-unified-allowance-children", PlanStatus.RECEIVING, D(2026, 1, 1))]
    assert due_reminders(profile, receiving, D(2026, 12, 1)) == []
    listed = FamilyProfile(
        children=[Child(birth_date="2025-06")], receiving=["fed-unified-allowance-children"]
    )
    assert due_reminders(listed, [], D(2026, 12, 1)) == []


MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.mark.parametrize(
    ("now", "day", "expected"),
    [
        (
            dt.datetime(2026, 12, 1, 5, 0, tzinfo=MSK),
            D(2026, 12, 1),
            dt.datetime(2026, 12, 1, 10, 0, tzinfo=MSK),
        ),
        (
            dt.datetime(2026, 12, 1, 13, 5, tzinfo=MSK),
            D(2026, 12, 1),
            dt.datetime(2026, 12, 1, 13, 5, tzinfo=MSK),
        ),
        (
            dt.datetime(2026, 12, 1, 20, 0, tzinfo=MSK),
            D(2026, 12, 1),
            dt.datetime(2026, 12, 2, 10, 0, tzinfo=MSK),
        ),
        # A day chosen ahead (an operator's --date): its morning.
        (
            dt.datetime(2026, 12, 1, 13, 0, tzinfo=MSK),
            D(2027, 6, 1),
            dt.datetime(2027, 6, 1, 10, 0, tzinfo=MSK),
        ),
        # A day in the past: now, if it is daytime.
        (
            dt.datetime(2026, 12, 1, 13, 0, tzinfo=MSK),
            D(2026, 11, 1),
            dt.datetime(2026, 12, 1, 13, 0, tzinfo=MSK),
        ),
    ],
)
def test_reminders_arrive_in_the_daytime_of_the_region(
    now: dt.datetime, day: dt.date, expected: dt.datetime
) -> None:
    assert daytime_not_before(now, day, "Europe/Moscow") == expected
    # Yekaterinburg is two hours ahead: 10:00 there is 08:00 in Moscow.
    if expected.hour == 10:
        later = daytime_not_before(now, day, "Asia/Yekaterinburg")
        assert later.astimezone(MSK).hour == 8
