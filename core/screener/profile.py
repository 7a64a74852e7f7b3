"""What a family told us (the profile) and the facts it gives on the day a rule is checked.

Ages, birth windows and pregnancy weeks are ranges: a family may say "about 3" or a year
only, and the rules then answer "needs checking" instead of guessing.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.catalogue.schema import (
    RegionCode,
    SubsistenceMinimum,
)

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


# The range of days a child was born in, both ends included; None: nothing known.
BirthWindow = tuple[dt.date, dt.date] | None


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def years_before(day: dt.date, years: float) -> dt.date:
    return months_before(day, round(years * 12))


ONE_DAY = dt.timedelta(days=1)


def _born_between(ref: dt.date, low: float, high: float) -> tuple[dt.date, dt.date]:
    """Born so as to be aged from `low` (included) to `high` (excluded) years on `ref`."""
    return years_before(ref, high) + ONE_DAY, years_before(ref, low)


def birth_window(child: Child, ref: dt.date) -> BirthWindow:
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
        window = birth_window(child, ref)
        if window is not None:
            middle = window[0] + (window[1] - window[0]) / 2
            ages.append(max((day - middle).days, 0) / 365.25)
    return ages


@dataclass(frozen=True)
class FamilyFacts:
    """The profile as it stands on the evaluation day."""

    measure_id: str
    profile: FamilyProfile
    today: dt.date
    minimum: SubsistenceMinimum | None
    born: list[BirthWindow] | None
    pregnant: Tri
    # Weeks of pregnancy today, the least and the most possible.
    weeks: tuple[float, float] | None
    # The days the mother may have been born in.
    mother: BirthWindow

    def youngest_born(self) -> BirthWindow:
        """The latest birth window among the children: None if unknown or no children."""
        if not self.born or any(b is None for b in self.born):
            return None
        return max((b for b in self.born if b is not None), key=lambda b: b[1])


def family_facts(
    measure_id: str, profile: FamilyProfile, today: dt.date, minimum: SubsistenceMinimum | None
) -> FamilyFacts:
    ref = profile.as_of or today
    born = None if profile.children is None else [birth_window(c, ref) for c in profile.children]
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
    mother: BirthWindow = None
    if profile.mother_birth_year is not None:
        year = profile.mother_birth_year
        mother = dt.date(year, 1, 1), dt.date(year, 12, 31)
    elif profile.mother_age is not None:
        mother = _born_between(ref, profile.mother_age, profile.mother_age + 1)
    elif profile.mother_age_range is not None:
        youngest, oldest = profile.mother_age_range
        mother = _born_between(ref, youngest, oldest + 1)
    return FamilyFacts(measure_id, profile, today, minimum, born, pregnant, weeks, mother)
