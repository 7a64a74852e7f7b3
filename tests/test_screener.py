"""The eligibility screener: three-valued rules, verdicts, ordering and the reasons' wording."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.catalogue.schema import Conditions, Measure, Region, SubsistenceMinimum, rule_problems
from core.screener import (
    REASON_CODES,
    REASON_VARIANTS,
    STATES,
    Child,
    FamilyProfile,
    MeasureVerdict,
    Reason,
    Verdict,
    evaluate,
    group_by_need,
    match_json,
    render_reason,
    screen,
)
from core.texts import Texts, Translator, placeholders

CONTENT = Path(__file__).resolve().parent.parent / "content"
NNBSP, NBSP = "\u202f", "\u00a0"

MINIMUM = SubsistenceMinimum(
    year=2025,
    per_capita=15719,
    working_age=17133,
    pensioner=13518,
    child=15174,
    source_url="https://example.org/pm",
)


def make_measure(
    measure_id: str,
    rules: dict[str, Any] | None = None,
    *,
    level: str = "federal",
    region: str | None = None,
    needs: tuple[str, ...] = ("money",),
) -> Measure:
    unconfirmed = bool(rules and rules.get("unconfirmed"))
    return Measure.model_validate(
        {
            "id": measure_id,
            "title": "Мера",
            "title_en": "Measure",
            "summary": "Описание",
            "summary_en": "Summary",
            "level": level,
            "region": region,
            "needs": list(needs),
            "eligibility": {
                "explanation": "Условия",
                "explanation_en": "Conditions",
                "rules": rules or {},
            },
            "amount": {"text": "1 ₽", "text_en": "1 ₽", "as_of": "2025-01-01"},
            "documents": ["паспорт"],
            "documents_en": ["passport"],
            "how_to_apply": {"channels": ["gosuslugi"], "steps": ["шаг"], "steps_en": ["step"]},
            "apply_url": "https://www.gosuslugi.ru/",
            "legal_basis": "закон",
            "source_url": "https://sfr.gov.ru/",
            "verified_on": "2025-01-01",
            **({"caution": "Не подтверждено", "caution_en": "Unconfirmed"} if unconfirmed else {}),
        }
    )


def make_region(code: str, per_capita: int = 15719) -> Region:
    return Region.model_validate(
        {
            "code": code,
            "name": "Область",
            "name_en": "Oblast",
            "timezone": "Europe/Moscow",
            "subsistence_minimum": {**MINIMUM.model_dump(), "per_capita": per_capita},
            "municipalities": [
                {"id": "town", "name": "Город", "name_en": "Town", "kind": "city_district"}
            ],
        }
    )


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load(CONTENT)


@pytest.fixture(scope="module")
def ru(texts: Texts) -> Translator:
    return texts.get("ru")


@pytest.fixture(scope="module")
def en(texts: Texts) -> Translator:
    return texts.get("en")


def check(
    rules: dict[str, Any], profile: FamilyProfile, t: Translator, minimum: Any = MINIMUM
) -> tuple[Verdict, list[str]]:
    verdict = evaluate(make_measure("m-test", rules), profile, minimum)
    return verdict.verdict, [render_reason(reason, t) for reason in verdict.reasons]


# --- each condition: met / not met / unknown ------------------------------------------------

TODAY = dt.date(2026, 12, 7)


def kids(*ages: float | None, disabled: bool | None = None) -> list[Child]:
    return [Child(age_years=age, disabled=disabled) for age in ages]


def born(*dates: str, disabled: bool | None = None) -> list[Child]:
    return [Child(birth_date=day, disabled=disabled) for day in dates]


def check_on(
    rules: dict[str, Any], profile: FamilyProfile, t: Translator, today: dt.date = TODAY
) -> tuple[Verdict, list[str]]:
    verdict = evaluate(make_measure("m-test", rules), profile, MINIMUM, today)
    return verdict.verdict, [render_reason(reason, t) for reason in verdict.reasons]


UNDER_3 = {"child": {"age_under": 3}}
MINOR_OR_STUDENT = {"any_of": [{"age_under": 18}, {"age_under": 23, "full_time_student": True}]}

CASES = [
    # rules, profile, verdict, Russian reason
    (
        UNDER_3,
        FamilyProfile(children=born("2024-09-15")),
        Verdict.ELIGIBLE,
        "есть ребёнок до 3 лет",
    ),
    (
        UNDER_3,
        FamilyProfile(children=born("2021-08-19")),
        Verdict.NOT_ELIGIBLE,
        "нет ребёнка до 3 лет",
    ),
    # The third birthday is today: "до 3 лет" no longer holds.
    (
        UNDER_3,
        FamilyProfile(children=born("2023-12-07")),
        Verdict.NOT_ELIGIBLE,
        "нет ребёнка до 3 лет",
    ),
    (
        UNDER_3,
        FamilyProfile(children=born("2023-12-08")),
        Verdict.ELIGIBLE,
        "есть ребёнок до 3 лет",
    ),
    # Only the birth month: the birthday may be before or after today.
    (
        UNDER_3,
        FamilyProfile(children=born("2023-12")),
        Verdict.MAYBE,
        "есть ли ребёнок до 3 лет? Укажите даты рождения детей",
    ),
    (
        UNDER_3,
        FamilyProfile(children=[]),
        Verdict.NOT_ELIGIBLE,
        "детей нет, а нужен ребёнок до 3 лет",
    ),
    (
        UNDER_3,
        FamilyProfile(),
        Verdict.MAYBE,
        "есть ли ребёнок до 3 лет? Укажите даты рождения детей",
    ),
    # «не позднее 6 месяцев»: the day the child is 6 months old still counts.
    (
        {"child": {"age_at_most": 0.5}},
        FamilyProfile(children=born("2026-06-07")),
        Verdict.ELIGIBLE,
        "есть ребёнок не старше 6 месяцев",
    ),
    (
        {"child": {"age_at_most": 0.5}},
        FamilyProfile(children=born("2026-06-06")),
        Verdict.NOT_ELIGIBLE,
        "нет ребёнка не старше 6 месяцев",
    ),
    # A range answer stays a range: 3–7 years is neither surely under 5 nor surely not.
    (
        {"child": {"age_under": 5}},
        FamilyProfile(children=[Child(age_range=(3, 7))]),
        Verdict.MAYBE,
        "есть ли ребёнок до 5 лет? Укажите даты рождения детей",
    ),
    (
        {"child": {"age_under": 18}},
        FamilyProfile(children=[Child(age_range=(3, 7)), Child(age_range=(7, 17))]),
        Verdict.ELIGIBLE,
        "есть ребёнок до 18 лет",
    ),
    # A whole age_years is completed years: 2 means from 2 to 3.
    (
        {"child": {"age_under": 3}},
        FamilyProfile(children=kids(2)),
        Verdict.ELIGIBLE,
        "есть ребёнок до 3 лет",
    ),
    (
        {"child": {"age_under": 2.5}},
        FamilyProfile(children=kids(2)),
        Verdict.MAYBE,
        "есть ли ребёнок до 2,5 года? Укажите даты рождения детей",
    ),
    (
        {"child": {"born_from": "2020-01-01"}},
        FamilyProfile(children=born("2019-12-31")),
        Verdict.NOT_ELIGIBLE,
        "нет ребёнка с датой рождения не раньше 1 января 2020",
    ),
    (
        {"child": {"age_under": 18, "disabled": True}},
        FamilyProfile(children=born("2016-05-10", disabled=None)),
        Verdict.MAYBE,
        "есть ли ребёнок до 18 лет с инвалидностью? Укажите даты рождения детей",
    ),
    (
        {"children": {"min": 3, "where": MINOR_OR_STUDENT}},
        FamilyProfile(children=born("2002-05-10", "2005-03-15", "2010-09-01")),
        Verdict.NOT_ELIGIBLE,
        "в семье меньше 3 детей до 18 лет или до 23 лет на очном обучении",
    ),
    (
        {"children": {"min": 3, "where": MINOR_OR_STUDENT}},
        FamilyProfile(
            children=[
                Child(birth_date="2006-04-02", full_time_student=True),
                *born("2014-02-11", "2021-08-19"),
            ]
        ),
        Verdict.ELIGIBLE,
        "в семье не меньше 3 детей до 18 лет или до 23 лет на очном обучении",
    ),
    (
        {"children": {"min": 3, "where": MINOR_OR_STUDENT}},
        FamilyProfile(
            children=[Child(birth_date="2006-04-02"), *born("2014-02-11", "2021-08-19")]
        ),
        Verdict.MAYBE,
        "сколько в семье детей до 18 лет или до 23 лет на очном обучении? Нужно не меньше 3;"
        " укажите даты рождения",
    ),
    (
        {"nth_child": {"from": 3, "where": {"born_from": "2019-01-01", "born_to": "2030-12-31"}}},
        FamilyProfile(children=born("2010-09-01", "2014-02-11", "2018-12-31")),
        Verdict.NOT_ELIGIBLE,
        "нет 3-го или следующего ребёнка с датой рождения с 1 января 2019 по 31 декабря 2030",
    ),
    (
        {"nth_child": {"from": 3, "where": {"born_from": "2019-01-01", "born_to": "2030-12-31"}}},
        FamilyProfile(children=born("2021-08-19", "2010-09-01", "2014-02-11")),
        Verdict.ELIGIBLE,
        "3-й или следующий ребёнок с датой рождения с 1 января 2019 по 31 декабря 2030",
    ),
    (
        {"every_child": MINOR_OR_STUDENT},
        FamilyProfile(children=born("2002-05-10", "2014-02-11")),
        Verdict.NOT_ELIGIBLE,
        "не все дети до 18 лет или до 23 лет на очном обучении",
    ),
    (
        {"youngest_child_age_min": 8},
        FamilyProfile(children=born("2010-09-01", "2018-12-08")),
        Verdict.NOT_ELIGIBLE,
        "младшему ребёнку меньше 8 лет",
    ),
    (
        {"after_birth": True},
        FamilyProfile(pregnant=True, children=[]),
        Verdict.NOT_ELIGIBLE,
        "детей пока нет — выплату назначают после рождения ребёнка",
    ),
    # «до 35 лет включительно»: 35 holds, 36 does not.
    (
        {"mother_age_max_incl": 35},
        FamilyProfile(mother_age=35),
        Verdict.ELIGIBLE,
        "маме не больше 35 лет — подходит",
    ),
    (
        {"mother_age_max_incl": 35},
        FamilyProfile(mother_age=36),
        Verdict.NOT_ELIGIBLE,
        "маме больше 35 лет, а мера для мам до 35 лет включительно",
    ),
    # Born in 1991: 34 or 35 today, both within the limit; born in 1990: 35 or 36.
    (
        {"mother_age_max_incl": 35},
        FamilyProfile(mother_birth_year=1991),
        Verdict.ELIGIBLE,
        "маме не больше 35 лет — подходит",
    ),
    (
        {"mother_age_max_incl": 35},
        FamilyProfile(mother_birth_year=1990),
        Verdict.MAYBE,
        "сколько лет маме (год рождения)? Мера для мам до 35 лет включительно",
    ),
    # The limit on the child's birthday: 36 today, 35 when the baby was born in March 2025.
    (
        {"mother_age_max_incl": 35, "mother_age_at_birth": True},
        FamilyProfile(mother_age=36, children=born("2025-03-01")),
        Verdict.ELIGIBLE,
        "маме не больше 35 лет — подходит",
    ),
    (
        {"mother_age_min": 57},
        FamilyProfile(mother_age=56),
        Verdict.NOT_ELIGIBLE,
        "маме меньше 57 лет, а нужно не меньше 57 лет",
    ),
    # «не превышает»: at the threshold the family qualifies; «ниже»: it does not.
    (
        {"income": {"max_pm": 2, "op": "le"}},
        FamilyProfile(income_per_person=31438),
        Verdict.ELIGIBLE,
        f"доход 31{NNBSP}438{NBSP}₽ на человека — не выше порога 31{NNBSP}438{NBSP}₽",
    ),
    (
        {"income": {"max_pm": 1, "op": "lt"}},
        FamilyProfile(income_per_person=15719),
        Verdict.NOT_ELIGIBLE,
        f"доход 15{NNBSP}719{NBSP}₽ на человека — не ниже порога 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"income": {"max_pm": 1, "op": "unclear"}},
        FamilyProfile(income_per_person=15719),
        Verdict.MAYBE,
        f"доход 15{NNBSP}719{NBSP}₽ на человека равен порогу 15{NNBSP}719{NBSP}₽: источники"
        " пишут «ниже» и «не превышает» — уточните в СФР",
    ),
    (
        {"income": {"max_pm": 1.1, "op": "le"}},
        FamilyProfile(income_per_person=17291),
        Verdict.NOT_ELIGIBLE,
        f"доход 17{NNBSP}291{NBSP}₽ на человека — выше порога 17{NNBSP}290,90{NBSP}₽",
    ),
    (
        {"income": {"max_pm": 1, "op": "lt"}},
        FamilyProfile(),
        Verdict.MAYBE,
        f"какой доход семьи в месяц на человека? Порог — 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"carer_employed": False},
        FamilyProfile(carer_employed=True),
        Verdict.MAYBE,
        "тот, кто ухаживает за ребёнком, работает: выплату сохраняют только родителю или"
        " опекуну при неполном рабочем дне — уточните в СФР",
    ),
    (
        {"citizenship_years_min": 3},
        FamilyProfile(citizen=True, citizenship_years=2),
        Verdict.NOT_ELIGIBLE,
        "гражданство России меньше 3 лет, а нужно не меньше 3 лет",
    ),
    (
        {"years_in_region_min": 3},
        FamilyProfile(),
        Verdict.MAYBE,
        "сколько лет вы живёте в регионе? Нужно не меньше 3 лет",
    ),
    (
        {"once": True},
        FamilyProfile(receiving=["m-test"]),
        Verdict.NOT_ELIGIBLE,
        "семья уже получила эту меру — её дают один раз",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnancy_weeks=8),
        Verdict.NOT_ELIGIBLE,
        "срок беременности 8 недель, а обратиться можно с 12 недель",
    ),
    # Weeks given on 2026-11-02 have moved on by five weeks.
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnancy_weeks=8, as_of=dt.date(2026, 11, 2)),
        Verdict.ELIGIBLE,
        "срок беременности 13 недель — нужно от 12 недель",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(due_date=dt.date(2027, 6, 7)),
        Verdict.ELIGIBLE,
        "срок беременности 14 недель — нужно от 12 недель",
    ),
    (
        {"citizen": True, "unconfirmed": True},
        FamilyProfile(citizen=True),
        Verdict.MAYBE,
        "условия не подтверждены официальным источником — уточните в ведомстве",
    ),
]


@pytest.mark.parametrize(("rules", "profile", "verdict", "text"), CASES)
def test_condition(
    rules: dict[str, Any], profile: FamilyProfile, verdict: Verdict, text: str, ru: Translator
) -> None:
    got_verdict, reasons = check_on(rules, profile, ru)
    assert got_verdict is verdict
    assert text in reasons


def test_income_without_region_is_unknown(ru: Translator, en: Translator) -> None:
    profile = FamilyProfile(income_per_person=1000)
    rules = {"income": {"max_pm": 1, "op": "lt"}}
    assert check(rules, profile, ru, minimum=None) == (
        Verdict.MAYBE,
        ["в каком вы регионе? Порог дохода зависит от региона"],
    )
    assert check(rules, profile, en, minimum=None)[1] == [
        "which region do you live in? The income threshold depends on it"
    ]


def test_pregnancy_weeks_alone_mean_pregnant(ru: Translator) -> None:
    assert check({"pregnant": True}, FamilyProfile(pregnancy_weeks=10), ru)[0] is Verdict.ELIGIBLE


def test_a_pregnancy_past_term_asks_again(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=True, pregnancy_weeks=30, as_of=dt.date(2026, 1, 5))
    assert check_on({"pregnant": True}, profile, ru)[0] is Verdict.MAYBE


def test_ages_move_with_the_evaluation_day(ru: Translator) -> None:
    profile = FamilyProfile(children=born("2025-06-20"))
    rules = {"child": {"age_under": 1.5}}
    assert check_on(rules, profile, ru, dt.date(2026, 6, 1))[0] is Verdict.ELIGIBLE
    assert check_on(rules, profile, ru, dt.date(2026, 12, 20))[0] is Verdict.NOT_ELIGIBLE
    # An age told in June is a year older in the next June.
    told = FamilyProfile(children=kids(1), as_of=dt.date(2026, 6, 1))
    assert check_on({"child": {"age_under": 2}}, told, ru, dt.date(2027, 6, 2))[0] is (
        Verdict.NOT_ELIGIBLE
    )


def test_ranges_are_never_told_back_as_points(ru: Translator) -> None:
    profile = FamilyProfile(children=[Child(age_range=(3, 7)), Child(age_range=(7, 17))])
    _, reasons = check_on({"child": {"age_under": 3}}, profile, ru)
    assert reasons == ["нет ребёнка до 3 лет"]
    maybe = check_on({"child": {"age_under": 5}}, profile, ru)[1]
    assert maybe == ["есть ли ребёнок до 5 лет? Укажите даты рождения детей"]


def test_large_family_relief_needs_an_allowance_already_paid(ru: Translator) -> None:
    rules = {
        "any_of": [
            {"income": {"max_pm": 1, "op": "unclear"}},
            {
                "income": {"max_pm": 1.1, "op": "le"},
                "children": {"min": 3, "where": MINOR_OR_STUDENT},
                "already_receiving": True,
            },
        ]
    }
    kids3 = born("2014-02-11", "2018-10-03", "2021-08-19")
    profile = FamilyProfile(income_per_person=16505, children=kids3, receiving=["m-test"])
    assert check_on(rules, profile, ru)[0] is Verdict.ELIGIBLE
    profile = profile.model_copy(update={"receiving": None})
    assert check_on(rules, profile, ru)[0] is Verdict.MAYBE
    profile = profile.model_copy(update={"receiving": [], "income_per_person": 17291})
    assert check_on(rules, profile, ru)[0] is Verdict.NOT_ELIGIBLE


def test_all_conditions_must_hold(ru: Translator) -> None:
    rules = {**UNDER_3, "employed": True, "income": {"max_pm": 1, "op": "lt"}}
    profile = FamilyProfile(children=born("2025-10-01"), employed=True)
    assert check_on(rules, profile, ru) == (
        Verdict.MAYBE,
        [
            "есть ребёнок до 3 лет",
            f"какой доход семьи в месяц на человека? Порог — 15{NNBSP}719{NBSP}₽",
            "вы работаете",
        ],
    )
    # One failure decides, and only the failures are kept: they are the "why not".
    profile = FamilyProfile(children=born("2025-10-01"), employed=False)
    assert check_on(rules, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        ["вы не работаете, а мера для работающих"],
    )
    full = FamilyProfile(children=born("2025-10-01"), employed=True, income_per_person=100)
    assert check_on(rules, full, ru)[0] is Verdict.ELIGIBLE


# --- any_of ---------------------------------------------------------------------------------

ANY_OF = {"any_of": [{"pregnant": True}, UNDER_3]}


def test_any_of_one_alternative_is_enough(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False, children=born("2024-09-15"))
    assert check_on(ANY_OF, profile, ru) == (Verdict.ELIGIBLE, ["есть ребёнок до 3 лет"])


def test_any_of_all_failing_explains_each(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False, children=born("2021-08-19"))
    assert check_on(ANY_OF, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        [
            "не выполнено ни одно из условий:",
            "вы не ждёте ребёнка, а мера для будущих мам",
            "нет ребёнка до 3 лет",
        ],
    )


def test_any_of_unknown_shows_what_to_check(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False)
    assert check_on(ANY_OF, profile, ru) == (
        Verdict.MAYBE,
        ["достаточно одного из условий:", "есть ли ребёнок до 3 лет? Укажите даты рождения детей"],
    )


def test_any_of_true_beats_unknown_and_false_alternative_fails_all(ru: Translator) -> None:
    assert check_on(ANY_OF, FamilyProfile(pregnant=True), ru)[0] is Verdict.ELIGIBLE
    rules = {"citizen": True, **ANY_OF}
    profile = FamilyProfile(citizen=False, pregnant=True)
    assert check_on(rules, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        ["нет гражданства России, а оно нужно для этой меры"],
    )


# --- empty profile, no rules --------------------------------------------------------------


def test_empty_profile_gives_maybe_for_every_measure_never_omits(ru: Translator) -> None:
    every_rule = Conditions.model_validate(
        {
            "citizen": True,
            "citizenship_years_min": 3,
            "years_in_region_min": 3,
            "pregnant": False,
            "child": {"age_under": 18},
            "children": {"min": 3, "where": MINOR_OR_STUDENT},
            "nth_child": {"from": 3, "where": {"born_from": "2019-01-01"}},
            "every_child": MINOR_OR_STUDENT,
            "youngest_child_age_min": 8,
            "after_birth": True,
            "income": {"max_pm": 1.5, "op": "le"},
            "student": False,
            "employed": True,
            "carer_employed": False,
            "single_parent": True,
            "has_mortgage": False,
            "mother_age_max_incl": 35,
            "mother_age_min": 20,
            "once": True,
            "extra_checks": ["insured"],
            "any_of": [{"student": True}, {"children": {"min": 4}}],
        }
    )
    measures = [
        make_measure(
            "m-all", every_rule.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        ),
        make_measure("m-none"),
        make_measure("m-weeks", {"pregnancy_weeks_min": 12}),
    ]
    verdicts = screen(measures, FamilyProfile(), {}, TODAY)
    assert [v.measure_id for v in verdicts] == ["m-none", "m-weeks", "m-all"]
    assert {v.verdict for v in verdicts} == {Verdict.MAYBE}
    for verdict in verdicts:
        assert verdict.reasons
        assert all(reason.met is None for reason in verdict.reasons)
    by_id = {v.measure_id: v for v in verdicts}
    assert [render_reason(r, ru) for r in by_id["m-none"].reasons] == [
        "условия проверьте в карточке меры"
    ]
    assert by_id["m-none"].reasons[0].code == "no_rules"
    # 20 checks, the any_of header, one per alternative.
    assert len(by_id["m-all"].reasons) == 23
    for reason in by_id["m-all"].reasons:
        assert not render_reason(reason, ru).startswith("screener.")


def test_rule_language_rejects_typos_and_empty_windows() -> None:
    with pytest.raises(ValidationError, match="need a caution"):
        Measure.model_validate(
            {
                **make_measure("m-x").model_dump(),
                "eligibility": {
                    "explanation": "Условия",
                    "explanation_en": "Conditions",
                    "rules": {"unconfirmed": True},
                },
            }
        )
    with pytest.raises(ValidationError):
        Conditions.model_validate({"child": {"age_undr": 3}})
    with pytest.raises(ValidationError):
        Conditions.model_validate({"child": {}})
    with pytest.raises(ValidationError):
        Conditions.model_validate({"income": {"max_pm": 1}})
    with pytest.raises(ValidationError):
        Conditions.model_validate({"extra_checks": ["horoscope"]})
    rules = Conditions.model_validate({"child": {"age_min": 3, "age_under": 3}})
    assert rule_problems(rules) == ["child age window 3.0..3.0 is empty"]


def test_profile_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"region": "RU-TAM", "kids": 2})
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"children": [{"age_years": 70}]})
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"children": [{"birth_date": "2026-02-30"}]})
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"children": [{"age_range": [7, 3]}]})
    profile = FamilyProfile.model_validate(
        {
            "region": "RU-TAM",
            "children": [
                {"age_years": 0.5, "disabled": False},
                {"birth_date": "2019-03", "full_time_student": False},
                {"age_range": [7, 17]},
            ],
            "pregnant": True,
            "pregnancy_weeks": 14,
            "as_of": "2026-11-01",
            "due_date": "2027-05-20",
            "mother_age": 24,
            "mother_birth_year": 2002,
            "student": False,
            "employed": True,
            "carer_employed": False,
            "income_per_person": 14000,
            "single_parent": False,
            "citizen": True,
            "citizenship_years": 24,
            "years_in_region": 3,
            "has_mortgage": False,
            "receiving": ["fed-matcap"],
        }
    )
    assert profile.children is not None
    assert profile.children[0] == Child(age_years=0.5, disabled=False)
    assert profile.children[2].age_range == (7, 17)


# --- screen: regions and order --------------------------------------------------------------

REGIONS = {"RU-TAM": make_region("RU-TAM", 15719), "RU-MOS": make_region("RU-MOS", 20000)}


def test_screen_keeps_federal_and_own_region_only() -> None:
    measures = [
        make_measure("fed", {"citizen": True}),
        make_measure("tam", {"citizen": True}, level="regional", region="RU-TAM"),
        make_measure("mos", {"citizen": True}, level="regional", region="RU-MOS"),
        make_measure("tam-ngo", level="ngo", region="RU-TAM"),
    ]
    ids = [v.measure_id for v in screen(measures, FamilyProfile(region="RU-TAM"), REGIONS)]
    assert sorted(ids) == ["fed", "tam", "tam-ngo"]
    assert [v.measure_id for v in screen(measures, FamilyProfile(), REGIONS)] == ["fed"]


def test_screen_uses_the_regions_subsistence_minimum(ru: Translator) -> None:
    measures = [make_measure("fed", {"income": {"max_pm": 1, "op": "lt"}})]
    profile = FamilyProfile(region="RU-MOS", income_per_person=18000)
    [verdict] = screen(measures, profile, REGIONS)
    assert verdict.verdict is Verdict.ELIGIBLE
    [verdict] = screen(measures, profile.model_copy(update={"region": "RU-TAM"}), REGIONS)
    assert verdict.verdict is Verdict.NOT_ELIGIBLE
    assert render_reason(verdict.reasons[0], ru).endswith(f"порога 15{NNBSP}719{NBSP}₽")


def test_screen_orders_by_verdict_then_unknowns_then_measure_order() -> None:
    measures = [
        make_measure("no", {"citizen": False}),
        make_measure("maybe-two", {"student": True, "employed": True}),
        make_measure("maybe-one-a", {"citizen": True, "student": True}),
        make_measure("yes", {"citizen": True}),
        make_measure("maybe-one-b", {"employed": True}),
        make_measure("no-2", {"citizen": True, "has_mortgage": True}),
    ]
    verdicts = screen(measures, FamilyProfile(citizen=True, has_mortgage=False), REGIONS)
    assert [v.measure_id for v in verdicts] == [
        "yes",
        "maybe-one-a",
        "maybe-one-b",
        "maybe-two",
        "no",
        "no-2",
    ]
    assert [v.verdict for v in verdicts] == [Verdict.ELIGIBLE] + [Verdict.MAYBE] * 3 + [
        Verdict.NOT_ELIGIBLE
    ] * 2


def test_group_by_need_orders_needs_by_best_verdict() -> None:
    measures = [
        make_measure("m-a", {"citizen": False}, needs=("housing",)),
        make_measure("m-b", {"student": True}, needs=("money", "housing")),
        make_measure("m-c", {"citizen": True}, needs=("legal",)),
    ]
    verdicts = screen(measures, FamilyProfile(citizen=True), REGIONS)
    groups = group_by_need(verdicts, {m.id: m for m in measures})
    assert [(need, [v.measure_id for v in items]) for need, items in groups] == [
        ("legal", ["m-c"]),
        ("money", ["m-b"]),
        ("housing", ["m-b", "m-a"]),
    ]


def test_match_json_shape(ru: Translator) -> None:
    measures = [
        make_measure("fed-a", UNDER_3),
        make_measure("fed-b", {"citizen": True}),
        make_measure("fed-c", {"student": True}),
    ]
    profile = FamilyProfile(children=born("2024-09-15"), student=False)
    assert match_json(screen(measures, profile, REGIONS, TODAY), ru) == {
        "results": [
            {"id": "fed-a", "verdict": "eligible", "reasons": ["есть ребёнок до 3 лет"]},
            {
                "id": "fed-b",
                "verdict": "maybe",
                "reasons": ["у вас есть гражданство России? Оно нужно для этой меры"],
            },
        ],
        "not_eligible": [{"id": "fed-c", "reasons": ["вы не учитесь, а мера для студентов"]}],
    }


def test_english_reasons(en: Translator) -> None:
    assert check_on(UNDER_3, FamilyProfile(children=born("2024-09-15")), en)[1] == [
        "there is a child under 3 years"
    ]
    rules = {"children": {"min": 3, "where": {"age_under": 18}}}
    assert check_on(rules, FamilyProfile(children=born("2024-09-15")), en)[1] == [
        "fewer than 3 children under 18 years"
    ]
    assert check_on({"income": {"max_pm": 1, "op": "lt"}}, FamilyProfile(), en)[1] == [
        f"what is the family income per person a month? The threshold is 15,719{NBSP}₽"
    ]


def test_verdict_labels(ru: Translator, en: Translator) -> None:
    assert [ru(f"screener.verdict.{v.value}") for v in Verdict] == [
        "Скорее всего положено",
        "Возможно",
        "Скорее всего не подходит",
    ]
    assert all(not en(f"screener.verdict.{v.value}").startswith("screener.") for v in Verdict)


# --- texts ----------------------------------------------------------------------------------


def test_screener_texts_match_between_languages(texts: Texts) -> None:
    assert [p for p in texts.problems() if ": screener." in p] == []


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_reason_code_and_state_has_a_text(lang: str, texts: Texts) -> None:
    own = texts.by_language[lang]
    wanted = [f"screener.reason.{code}.{state}" for code in REASON_CODES for state in STATES]
    wanted += [
        f"screener.reason.{code}.{variant}"
        for code, variants in REASON_VARIANTS.items()
        for variant in variants
    ]
    assert [key for key in wanted if key not in own] == []
    reason_keys = {key for key in own if key.startswith("screener.reason.")}
    assert reason_keys == set(wanted)  # nothing stale either
    assert placeholders(own["screener.reason.child.met"]) == {"what"}


def test_unknown_reason_code_is_visible_not_silent(ru: Translator) -> None:
    assert render_reason(Reason("new_code", {}, None), ru) == "screener.reason.new_code.unknown"


def test_measure_verdict_counts_unknowns_without_headers() -> None:
    verdict = MeasureVerdict(
        "x",
        Verdict.MAYBE,
        (Reason("any_of", {}, None), Reason("student", {}, None), Reason("citizen", {}, True)),
    )
    assert verdict.unknown_count == 1


# --- ranges the family chose (the /find buttons) are evaluated as ranges -----------------

UNDER_PM, ONE_TO_TWO_PM, OVER_TWO_PM = (0.0, 1.0), (1.0, 2.0), (2.0, None)
RANGE_ROWS = [
    # rules, profile, verdict: met only if the whole range meets, failed only if it all fails
    ({"income": {"max_pm": 1, "op": "unclear"}}, {"income_range_pm": UNDER_PM}, "eligible"),
    ({"income": {"max_pm": 1, "op": "unclear"}}, {"income_range_pm": ONE_TO_TWO_PM}, "maybe"),
    ({"income": {"max_pm": 1.1, "op": "le"}}, {"income_range_pm": ONE_TO_TWO_PM}, "maybe"),
    ({"income": {"max_pm": 1.1, "op": "le"}}, {"income_range_pm": OVER_TWO_PM}, "not_eligible"),
    ({"income": {"max_pm": 1.5, "op": "le"}}, {"income_range_pm": UNDER_PM}, "eligible"),
    ({"income": {"max_pm": 1.5, "op": "le"}}, {"income_range_pm": ONE_TO_TWO_PM}, "maybe"),
    ({"income": {"max_pm": 2, "op": "le"}}, {"income_range_pm": ONE_TO_TWO_PM}, "eligible"),
    ({"income": {"max_pm": 2, "op": "le"}}, {"income_range_pm": OVER_TWO_PM}, "maybe"),
    ({"income": {"max_pm": 2, "op": "lt"}}, {"income_range_pm": OVER_TWO_PM}, "not_eligible"),
    ({"pregnancy_weeks_min": 30}, {"pregnancy_weeks_range": (23, 30)}, "maybe"),
    ({"pregnancy_weeks_min": 30}, {"pregnancy_weeks_range": (31, 42)}, "eligible"),
    ({"pregnancy_weeks_min": 30}, {"pregnancy_weeks_range": (12, 22)}, "not_eligible"),
    ({"pregnancy_weeks_min": 12}, {"pregnancy_weeks_range": (12, 22)}, "eligible"),
    ({"pregnancy_weeks_max": 22}, {"pregnancy_weeks_range": (12, 22)}, "eligible"),
    ({"pregnancy_weeks_max": 22}, {"pregnancy_weeks_range": (23, 30)}, "not_eligible"),
    ({"mother_age_min": 50}, {"mother_age_range": (36, 80)}, "maybe"),
    ({"mother_age_min": 57}, {"mother_age_range": (25, 35)}, "not_eligible"),
    ({"mother_age_max_incl": 35}, {"mother_age_range": (25, 35)}, "eligible"),
    ({"mother_age_max_incl": 35}, {"mother_age_range": (36, 80)}, "not_eligible"),
    ({"mother_age_max_incl": 36}, {"mother_age_range": (36, 80)}, "maybe"),
    ({"mother_age_max_incl": 24}, {"mother_age_range": (10, 24)}, "eligible"),
]


@pytest.mark.parametrize(("rules", "fields", "verdict"), RANGE_ROWS)
def test_a_range_meets_a_rule_only_as_a_whole(
    rules: dict[str, Any], fields: dict[str, Any], verdict: str, ru: Translator
) -> None:
    got, _ = check_on(rules, FamilyProfile(**fields), ru)
    assert got.value == verdict


def test_a_term_range_moves_with_time(ru: Translator) -> None:
    told = FamilyProfile(pregnancy_weeks_range=(23, 30), as_of=dt.date(2026, 11, 2))
    # Five weeks later the term is 28–35 weeks: still not all of it past 30.
    assert check_on({"pregnancy_weeks_min": 30}, told, ru)[0] is Verdict.MAYBE
    later = told.model_copy(update={"as_of": dt.date(2026, 9, 1)})  # 14 weeks on: 37–44
    assert check_on({"pregnancy_weeks_min": 30}, later, ru)[0] is Verdict.ELIGIBLE


def test_range_reasons_tell_the_range_never_a_point(ru: Translator, en: Translator) -> None:
    family_tax = {"income": {"max_pm": 1.5, "op": "le"}}
    middle = FamilyProfile(income_range_pm=ONE_TO_TWO_PM)
    assert check_on(family_tax, middle, ru)[1] == [
        f"доход от 15{NNBSP}719{NBSP}₽ до 31{NNBSP}438{NBSP}₽ на человека, а порог "
        f"23{NNBSP}578,50{NBSP}₽ — уточните точную сумму дохода"
    ]
    assert check_on(family_tax, FamilyProfile(income_range_pm=OVER_TWO_PM), ru)[1] == [
        f"доход больше 31{NNBSP}438{NBSP}₽ на человека — выше порога 23{NNBSP}578,50{NBSP}₽"
    ]
    assert check_on(family_tax, FamilyProfile(income_range_pm=UNDER_PM), en)[1] == [
        "income under 15,719\u00a0₽ per person — not above the threshold 23,578.50\u00a0₽"
    ]
    weeks = check_on(
        {"pregnancy_weeks_min": 30}, FamilyProfile(pregnancy_weeks_range=(23, 30)), ru
    )
    assert weeks[1] == [
        "срок беременности 23–30 недель, а нужно от 30 недель — уточните срок или дату родов"
    ]
    mother = check_on({"mother_age_min": 50}, FamilyProfile(mother_age_range=(36, 80)), ru)
    assert mother[1] == ["сколько лет маме (год рождения)? Нужно не меньше 50 лет"]


def test_profile_rejects_bad_ranges() -> None:
    for fields in (
        {"income_range_pm": (2, 1)},
        {"income_range_pm": (-1, 1)},
        {"pregnancy_weeks_range": (30, 23)},
        {"mother_age_range": (5, 20)},
    ):
        with pytest.raises(ValidationError):
            FamilyProfile.model_validate(fields)
