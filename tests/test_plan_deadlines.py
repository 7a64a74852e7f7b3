"""Application deadlines: the catalogue's rule, a family's date, and the words for both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.catalogue.files import read_catalogue
from core.catalogue.schema import ApplyWindow, ApplyWithin, Measure
from core.plan.deadlines import (
    DeadlineKind,
    add_months,
    deadline_of,
    describe_deadline,
    describe_rule,
)
from core.screener import Child, FamilyProfile
from core.texts import Texts

CONTENT = Path(__file__).resolve().parent.parent / "content"
TEXTS = Texts.load(CONTENT)
RU, EN = TEXTS.get("ru"), TEXTS.get("en")


@pytest.fixture(scope="module")
def measures() -> dict[str, Measure]:
    catalogue = read_catalogue(CONTENT)
    assert not catalogue.problems
    return {m.id: m for m in catalogue.measures}


def family(*births: str, **fields: Any) -> FamilyProfile:
    return FamilyProfile(children=[Child(birth_date=b) for b in births], **fields)


def test_the_catalogue_states_the_deadlines_the_sources_name(
    measures: dict[str, Measure],
) -> None:
    within = {m.id: m.apply_within.months for m in measures.values() if m.apply_within}
    assert within == {"fed-birth-grant": 6, "tam-newborn-5000": 6, "mos-birth-300k": 12}
    windows = {
        m.id: (m.apply_window.opens, m.apply_window.closes)
        for m in measures.values()
        if m.apply_window
    }
    assert windows == {
        "fed-family-tax-payment": ("06-01", "10-01"),
        "mos-school-uniform-large-family": (None, "12-05"),
    }


def test_six_months_after_a_known_birthday(measures: dict[str, Measure]) -> None:
    grant = measures["fed-birth-grant"]
    deadline = deadline_of(grant, family("2026-03-15"), dt.date(2026, 5, 1))
    assert deadline is not None
    assert deadline.kind is DeadlineKind.AFTER_BIRTH
    assert deadline.due == dt.date(2026, 9, 15) and not deadline.estimated
    assert deadline.birth == dt.date(2026, 3, 15)
    assert not deadline.passed(dt.date(2026, 9, 15)) and deadline.passed(dt.date(2026, 9, 16))
    assert deadline.days_left(dt.date(2026, 9, 1)) == 14


def test_a_birth_month_counts_from_its_first_day_and_says_it_is_estimated(
    measures: dict[str, Measure],
) -> None:
    deadline = deadline_of(measures["fed-birth-grant"], family("2026-03"), dt.date(2026, 4, 1))
    assert deadline is not None and deadline.due == dt.date(2026, 9, 1) and deadline.estimated


def test_no_date_without_a_birth_known_to_the_month(measures: dict[str, Measure]) -> None:
    grant = measures["fed-birth-grant"]
    day = dt.date(2026, 4, 1)
    assert deadline_of(grant, family("2026"), day) is None
    assert deadline_of(grant, FamilyProfile(children=[Child(age_range=(0, 1))]), day) is None
    assert deadline_of(grant, FamilyProfile(), day) is None
    assert deadline_of(grant, None, day) is None
    # A measure whose law sets no deadline has none.
    assert deadline_of(measures["fed-matcap"], family("2026-03-15"), day) is None


def test_an_expected_birth_gives_an_estimated_deadline(measures: dict[str, Measure]) -> None:
    profile = FamilyProfile(pregnant=True, due_date=dt.date(2027, 2, 10), children=[])
    deadline = deadline_of(measures["tam-newborn-5000"], profile, dt.date(2026, 12, 1))
    assert deadline is not None and deadline.due == dt.date(2027, 8, 10) and deadline.estimated
    # A family that said it is not pregnant any more: the old due date dates nothing.
    gone = profile.model_copy(update={"pregnant": False})
    assert deadline_of(measures["tam-newborn-5000"], gone, dt.date(2026, 12, 1)) is None


def test_the_nearest_open_deadline_else_the_latest_passed(measures: dict[str, Measure]) -> None:
    grant = measures["fed-birth-grant"]
    profile = family("2020-01-10", "2026-02-20", "2026-04-05")
    deadline = deadline_of(grant, profile, dt.date(2026, 8, 1))
    assert deadline is not None and deadline.due == dt.date(2026, 8, 20)
    deadline = deadline_of(grant, profile, dt.date(2026, 9, 1))
    assert deadline is not None and deadline.due == dt.date(2026, 10, 5)
    deadline = deadline_of(grant, profile, dt.date(2027, 1, 1))
    assert deadline is not None and deadline.passed(dt.date(2027, 1, 1))
    assert deadline.due == dt.date(2026, 10, 5)


def test_months_end_on_the_shorter_months_last_day() -> None:
    assert add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 12, 7), 12) == dt.date(2027, 12, 7)


def test_a_yearly_window_before_during_and_after(measures: dict[str, Measure]) -> None:
    tax = measures["fed-family-tax-payment"]
    before = deadline_of(tax, None, dt.date(2026, 5, 1))
    assert before is not None and before.kind is DeadlineKind.WINDOW
    assert (before.opens, before.due) == (dt.date(2026, 6, 1), dt.date(2026, 10, 1))
    during = deadline_of(tax, FamilyProfile(), dt.date(2026, 10, 1))
    assert during is not None and (during.opens, during.due) == (None, dt.date(2026, 10, 1))
    after = deadline_of(tax, None, dt.date(2026, 10, 2))
    assert after is not None and (after.opens, after.due) == (
        dt.date(2027, 6, 1),
        dt.date(2027, 10, 1),
    )
    uniform = deadline_of(measures["mos-school-uniform-large-family"], None, dt.date(2026, 12, 6))
    assert uniform is not None and (uniform.opens, uniform.due) == (None, dt.date(2027, 12, 5))


def test_the_rule_and_the_date_in_words(measures: dict[str, Measure]) -> None:
    grant = measures["fed-birth-grant"]
    assert describe_rule(grant, RU) == (
        "в течение 6 месяцев после рождения (Срок для неработающих родителей: работающим "
        "пособие назначают без заявления.)"
    )
    assert describe_rule(measures["tam-newborn-5000"], EN) == "within 6 months of the birth"
    assert describe_rule(measures["fed-family-tax-payment"], RU) == (
        "каждый год с 1 июня по 1 октября"
    )
    assert describe_rule(measures["fed-matcap"], RU) is None
    day = dt.date(2026, 9, 14)
    deadline = deadline_of(grant, family("2026-03-15"), day)
    assert deadline is not None
    assert describe_deadline(deadline, RU, day) == "подать до 15 сентября 2026 (остался 1 день)"
    assert describe_deadline(deadline, EN, day) == "apply by 15 September 2026 (1 day left)"
    assert describe_deadline(deadline, RU, dt.date(2026, 9, 16)) == (
        "срок подачи прошёл 15 сентября 2026"
    )
    window = deadline_of(measures["fed-family-tax-payment"], None, dt.date(2026, 5, 1))
    assert window is not None
    assert describe_deadline(window, RU, dt.date(2026, 5, 1)) == (
        "приём откроется 1 июня 2026, подать до 1 октября 2026"
    )


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (ApplyWithin, {"months": 0}),
        (ApplyWithin, {"months": 6, "after": "wedding"}),
        (ApplyWithin, {"months": 6, "note": "только по-русски"}),
        (ApplyWindow, {"closes": "02-30"}),
        (ApplyWindow, {"closes": "13-01"}),
        (ApplyWindow, {"closes": "02-29"}),
        (ApplyWindow, {"opens": "10-01", "closes": "06-01"}),
        (ApplyWindow, {"opens": "06-01"}),
    ],
)
def test_a_malformed_deadline_rule_is_rejected(model: type[Any], data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)
