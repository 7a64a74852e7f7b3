"""The eligibility screener: three-valued rules, verdicts, ordering and the reasons' wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.catalogue.schema import Conditions, Measure, Region, SubsistenceMinimum
from bot.services.screener import (
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
from bot.texts import Texts, Translator, placeholders

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


def kids(*ages: float | None, disabled: bool | None = None) -> list[Child]:
    return [Child(age_years=age, disabled=disabled) for age in ages]


CASES = [
    # rules, profile, verdict, Russian reason
    (
        {"child_age_max": 3},
        FamilyProfile(children=kids(2)),
        Verdict.ELIGIBLE,
        "ребёнку 2 года — до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(children=kids(5)),
        Verdict.NOT_ELIGIBLE,
        "ребёнку 5 лет, а нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(children=kids(3)),
        Verdict.NOT_ELIGIBLE,
        "ребёнку 3 года, а нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_min": 1.5, "child_age_max": 3},
        FamilyProfile(children=kids(1.5)),
        Verdict.ELIGIBLE,
        "ребёнку 1,5 года — от 1,5 до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(children=kids(5, 8)),
        Verdict.NOT_ELIGIBLE,
        "детям 5 и 8 лет, а нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(children=[]),
        Verdict.NOT_ELIGIBLE,
        "детей нет, а нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(),
        Verdict.MAYBE,
        "возраст детей не указан — нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_max": 3},
        FamilyProfile(children=kids(7, None)),
        Verdict.MAYBE,
        "возраст детей не указан — нужен ребёнок до 3 лет",
    ),
    (
        {"child_age_min": 1.5, "child_age_max": 3},
        FamilyProfile(children=kids(0.5, 2)),
        Verdict.ELIGIBLE,
        "ребёнку 2 года — от 1,5 до 3 лет",
    ),
    (
        {"child_age_min": 3},
        FamilyProfile(children=kids(0.5, 1)),
        Verdict.NOT_ELIGIBLE,
        "детям 6 месяцев и 1 год, а нужен ребёнок от 3 лет",
    ),
    (
        {"children_min": 3},
        FamilyProfile(children=kids(1, 4, 7)),
        Verdict.ELIGIBLE,
        "в семье 3 ребёнка — нужно от 3 детей",
    ),
    (
        {"children_min": 3},
        FamilyProfile(children=kids(1, 4)),
        Verdict.NOT_ELIGIBLE,
        "в семье 2 ребёнка, а нужно от 3 детей",
    ),
    (
        {"children_min": 3},
        FamilyProfile(children=[]),
        Verdict.NOT_ELIGIBLE,
        "детей нет, а нужно от 3 детей",
    ),
    (
        {"children_min": 3},
        FamilyProfile(pregnant=True),
        Verdict.MAYBE,
        "не указано, сколько детей — нужно от 3 детей",
    ),
    (
        {"income_max_pm": 1},
        FamilyProfile(income_per_person=14000),
        Verdict.ELIGIBLE,
        f"доход 14{NNBSP}000{NBSP}₽ на человека — ниже порога 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"income_max_pm": 1},
        FamilyProfile(income_per_person=20000),
        Verdict.NOT_ELIGIBLE,
        f"доход 20{NNBSP}000{NBSP}₽ на человека — выше порога 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"income_max_pm": 1},
        FamilyProfile(income_per_person=15719),
        Verdict.NOT_ELIGIBLE,
        f"доход 15{NNBSP}719{NBSP}₽ на человека — выше порога 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"income_max_pm": 1},
        FamilyProfile(),
        Verdict.MAYBE,
        f"доход не указан — проверьте порог 15{NNBSP}719{NBSP}₽",
    ),
    (
        {"income_max_pm": 2},
        FamilyProfile(),
        Verdict.MAYBE,
        f"доход не указан — проверьте порог 31{NNBSP}438{NBSP}₽",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnant=True, pregnancy_weeks=14),
        Verdict.ELIGIBLE,
        "срок беременности 14 недель — нужно от 12 недель",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnancy_weeks=11),
        Verdict.NOT_ELIGIBLE,
        "срок беременности 11 недель, а нужно от 12 недель",
    ),
    (
        {"pregnancy_weeks_min": 21},
        FamilyProfile(pregnancy_weeks=22),
        Verdict.ELIGIBLE,
        "срок беременности 22 недели — нужно от 21 недели",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnant=True),
        Verdict.MAYBE,
        "срок беременности не указан — нужно от 12 недель",
    ),
    (
        {"pregnancy_weeks_min": 12},
        FamilyProfile(pregnant=False),
        Verdict.NOT_ELIGIBLE,
        "вы не ждёте ребёнка, а мера для будущих мам",
    ),
    (
        {"mother_age_max": 24},
        FamilyProfile(mother_age=24),
        Verdict.ELIGIBLE,
        "маме 24 года — мера для мам не старше 24 лет",
    ),
    (
        {"mother_age_max": 24},
        FamilyProfile(mother_age=25),
        Verdict.NOT_ELIGIBLE,
        "маме 25 лет, а мера для мам не старше 24 лет",
    ),
    (
        {"mother_age_max": 21},
        FamilyProfile(),
        Verdict.MAYBE,
        "возраст мамы не указан — мера для мам не старше 21 года",
    ),
    ({"pregnant": True}, FamilyProfile(pregnant=True), Verdict.ELIGIBLE, "вы ждёте ребёнка"),
    (
        {"pregnant": True},
        FamilyProfile(pregnant=False),
        Verdict.NOT_ELIGIBLE,
        "вы не ждёте ребёнка, а мера для будущих мам",
    ),
    (
        {"pregnant": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, ждёте ли вы ребёнка — мера для будущих мам",
    ),
    ({"student": True}, FamilyProfile(student=True), Verdict.ELIGIBLE, "вы учитесь"),
    (
        {"student": True},
        FamilyProfile(student=False),
        Verdict.NOT_ELIGIBLE,
        "вы не учитесь, а мера для студентов",
    ),
    (
        {"student": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, учитесь ли вы — мера для студентов",
    ),
    ({"employed": True}, FamilyProfile(employed=True), Verdict.ELIGIBLE, "вы работаете"),
    (
        {"employed": True},
        FamilyProfile(employed=False),
        Verdict.NOT_ELIGIBLE,
        "вы не работаете, а мера для работающих",
    ),
    (
        {"employed": False},
        FamilyProfile(employed=False),
        Verdict.ELIGIBLE,
        "вы сейчас не работаете",
    ),
    (
        {"employed": False},
        FamilyProfile(employed=True),
        Verdict.NOT_ELIGIBLE,
        "вы работаете, а мера для тех, кто сейчас без работы",
    ),
    (
        {"employed": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, работаете ли вы — мера для работающих",
    ),
    (
        {"single_parent": True},
        FamilyProfile(single_parent=True),
        Verdict.ELIGIBLE,
        "вы растите детей в одиночку",
    ),
    (
        {"single_parent": True},
        FamilyProfile(single_parent=False),
        Verdict.NOT_ELIGIBLE,
        "детей растят двое родителей, а мера для одиноких родителей",
    ),
    (
        {"single_parent": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, растите ли вы детей в одиночку — мера для одиноких родителей",
    ),
    (
        {"has_mortgage": True},
        FamilyProfile(has_mortgage=True),
        Verdict.ELIGIBLE,
        "у вас есть ипотека",
    ),
    (
        {"has_mortgage": True},
        FamilyProfile(has_mortgage=False),
        Verdict.NOT_ELIGIBLE,
        "ипотеки нет, а мера для семей с ипотекой",
    ),
    (
        {"has_mortgage": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, есть ли ипотека — мера для семей с ипотекой",
    ),
    ({"citizen": True}, FamilyProfile(citizen=True), Verdict.ELIGIBLE, "вы гражданин России"),
    (
        {"citizen": True},
        FamilyProfile(citizen=False),
        Verdict.NOT_ELIGIBLE,
        "нет гражданства России, а оно нужно для этой меры",
    ),
    (
        {"citizen": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "гражданство не указано — нужно гражданство России",
    ),
    (
        {"disabled_child": True},
        FamilyProfile(children=[Child(age_years=4, disabled=False), Child(disabled=True)]),
        Verdict.ELIGIBLE,
        "в семье растёт ребёнок с инвалидностью",
    ),
    (
        {"disabled_child": True},
        FamilyProfile(children=kids(4, 6, disabled=False)),
        Verdict.NOT_ELIGIBLE,
        "детей с инвалидностью нет, а мера для семей, где растёт ребёнок с инвалидностью",
    ),
    (
        {"disabled_child": True},
        FamilyProfile(children=[Child(age_years=4, disabled=False), Child(age_years=6)]),
        Verdict.MAYBE,
        "не указано, есть ли у ребёнка инвалидность — мера для семей, где растёт ребёнок с "
        "инвалидностью",
    ),
    (
        {"disabled_child": True},
        FamilyProfile(),
        Verdict.MAYBE,
        "не указано, есть ли у ребёнка инвалидность — мера для семей, где растёт ребёнок с "
        "инвалидностью",
    ),
]


@pytest.mark.parametrize(("rules", "profile", "verdict", "text"), CASES)
def test_condition(
    rules: dict[str, Any], profile: FamilyProfile, verdict: Verdict, text: str, ru: Translator
) -> None:
    assert check(rules, profile, ru) == (verdict, [text])


def test_income_without_region_is_unknown(ru: Translator, en: Translator) -> None:
    profile = FamilyProfile(income_per_person=1000)
    assert check({"income_max_pm": 1}, profile, ru, minimum=None) == (
        Verdict.MAYBE,
        ["регион не выбран — порог дохода зависит от региона"],
    )
    assert check({"income_max_pm": 1}, profile, en, minimum=None)[1] == [
        "region not chosen — the income threshold depends on the region"
    ]


def test_pregnancy_weeks_alone_mean_pregnant(ru: Translator) -> None:
    assert check({"pregnant": True}, FamilyProfile(pregnancy_weeks=10), ru)[0] is Verdict.ELIGIBLE


def test_all_conditions_must_hold(ru: Translator) -> None:
    rules = {"child_age_max": 3, "employed": True, "income_max_pm": 1}
    assert check(rules, FamilyProfile(children=kids(1), employed=True), ru) == (
        Verdict.MAYBE,
        [
            "ребёнку 1 год — до 3 лет",
            f"доход не указан — проверьте порог 15{NNBSP}719{NBSP}₽",
            "вы работаете",
        ],
    )
    # One failure decides, and only the failures are kept: they are the "why not".
    profile = FamilyProfile(children=kids(1), employed=False)
    assert check(rules, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        ["вы не работаете, а мера для работающих"],
    )
    full = FamilyProfile(children=kids(1), employed=True, income_per_person=100)
    assert check(rules, full, ru)[0] is Verdict.ELIGIBLE


# --- any_of ---------------------------------------------------------------------------------

ANY_OF = {"any_of": [{"pregnant": True}, {"child_age_max": 3}]}


def test_any_of_one_alternative_is_enough(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False, children=kids(2))
    assert check(ANY_OF, profile, ru) == (Verdict.ELIGIBLE, ["ребёнку 2 года — до 3 лет"])


def test_any_of_all_failing_explains_each(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False, children=kids(5))
    assert check(ANY_OF, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        [
            "не выполнено ни одно из условий:",
            "вы не ждёте ребёнка, а мера для будущих мам",
            "ребёнку 5 лет, а нужен ребёнок до 3 лет",
        ],
    )


def test_any_of_unknown_shows_what_to_check(ru: Translator) -> None:
    profile = FamilyProfile(pregnant=False)
    assert check(ANY_OF, profile, ru) == (
        Verdict.MAYBE,
        ["достаточно одного из условий:", "возраст детей не указан — нужен ребёнок до 3 лет"],
    )


def test_any_of_true_beats_unknown_and_false_alternative_fails_all(ru: Translator) -> None:
    assert check(ANY_OF, FamilyProfile(pregnant=True), ru)[0] is Verdict.ELIGIBLE
    rules = {"citizen": True, **ANY_OF}
    profile = FamilyProfile(citizen=False, pregnant=True)
    assert check(rules, profile, ru) == (
        Verdict.NOT_ELIGIBLE,
        ["нет гражданства России, а оно нужно для этой меры"],
    )


# --- empty profile, no rules --------------------------------------------------------------


def test_empty_profile_gives_maybe_for_every_measure_never_omits(ru: Translator) -> None:
    every_rule = Conditions(
        citizen=True,
        pregnant=False,
        child_age_min=0,
        child_age_max=18,
        children_min=1,
        disabled_child=True,
        income_max_pm=1.5,
        student=False,
        employed=True,
        single_parent=True,
        has_mortgage=False,
        mother_age_max=30,
        any_of=[Conditions(student=True), Conditions(children_min=3)],
    )
    measures = [
        make_measure("m-all", every_rule.model_dump(exclude_defaults=True)),
        make_measure("m-none"),
        make_measure("m-weeks", {"pregnancy_weeks_min": 12}),
    ]
    verdicts = screen(measures, FamilyProfile(), {})
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
    assert len(by_id["m-all"].reasons) == 14  # 11 checks, the any_of header, one per alternative


def test_profile_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"region": "RU-TAM", "kids": 2})
    with pytest.raises(ValidationError):
        FamilyProfile.model_validate({"children": [{"age_years": 30}]})
    profile = FamilyProfile.model_validate(
        {
            "region": "RU-TAM",
            "children": [{"age_years": 0.5, "disabled": False}],
            "pregnant": True,
            "pregnancy_weeks": 14,
            "mother_age": 24,
            "student": False,
            "employed": True,
            "income_per_person": 14000,
            "single_parent": False,
            "citizen": True,
            "has_mortgage": False,
        }
    )
    assert profile.children == [Child(age_years=0.5, disabled=False)]


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
    measures = [make_measure("fed", {"income_max_pm": 1})]
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
        make_measure("fed-a", {"child_age_max": 3}),
        make_measure("fed-b", {"citizen": True}),
        make_measure("fed-c", {"student": True}),
    ]
    profile = FamilyProfile(children=kids(2), student=False)
    assert match_json(screen(measures, profile, REGIONS), ru) == {
        "results": [
            {"id": "fed-a", "verdict": "eligible", "reasons": ["ребёнку 2 года — до 3 лет"]},
            {
                "id": "fed-b",
                "verdict": "maybe",
                "reasons": ["гражданство не указано — нужно гражданство России"],
            },
        ],
        "not_eligible": [{"id": "fed-c", "reasons": ["вы не учитесь, а мера для студентов"]}],
    }


# --- wording: plurals, numbers, English -------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (0, "ребёнку меньше месяца — до 3 лет"),
        (1 / 12, "ребёнку 1 месяц — до 3 лет"),
        (0.25, "ребёнку 3 месяца — до 3 лет"),
        (8 / 12, "ребёнку 8 месяцев — до 3 лет"),
        (1, "ребёнку 1 год — до 3 лет"),
        (1.5, "ребёнку 1,5 года — до 3 лет"),
        (2, "ребёнку 2 года — до 3 лет"),
        (2.96, "ребёнку 2,9 года — до 3 лет"),
    ],
)
def test_russian_child_age_forms(age: float, text: str, ru: Translator) -> None:
    assert check({"child_age_max": 3}, FamilyProfile(children=kids(age)), ru)[1] == [text]


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (5, "ребёнку 5 лет — до 25 лет"),
        (11, "ребёнку 11 лет — до 25 лет"),
        (14, "ребёнку 14 лет — до 25 лет"),
        (21, "ребёнку 21 год — до 25 лет"),
        (22, "ребёнку 22 года — до 25 лет"),
    ],
)
def test_russian_year_plurals(age: float, text: str, ru: Translator) -> None:
    assert check({"child_age_max": 25}, FamilyProfile(children=kids(age)), ru)[1] == [text]


@pytest.mark.parametrize(
    ("rules", "text"),
    [
        ({"child_age_max": 1}, "ребёнку 6 месяцев — до 1 года"),
        ({"child_age_max": 1.5}, "ребёнку 6 месяцев — до 1,5 года"),
        ({"child_age_max": 0.75}, "ребёнку 6 месяцев — до 9 месяцев"),
        ({"child_age_max": 21}, "ребёнку 6 месяцев — до 21 года"),
        (
            {"child_age_min": 0.25, "child_age_max": 1},
            "ребёнку 6 месяцев — от 3 месяцев до 1 года",
        ),
    ],
)
def test_russian_age_ranges_in_genitive(rules: dict[str, Any], text: str, ru: Translator) -> None:
    assert check(rules, FamilyProfile(children=kids(0.5)), ru)[1] == [text]


def test_english_reasons(en: Translator) -> None:
    assert check({"child_age_max": 3}, FamilyProfile(children=kids(2)), en)[1] == [
        "child aged 2 years — under 3 years"
    ]
    assert check({"child_age_max": 3}, FamilyProfile(children=kids(1, 5)), en)[1] == [
        "child aged 1 year — under 3 years"
    ]
    assert check({"child_age_min": 3}, FamilyProfile(children=kids(0.5, 1)), en)[1] == [
        "children aged 6 months and 1 year, but it needs a child aged 3 years or older"
    ]
    assert check({"income_max_pm": 1}, FamilyProfile(), en)[1] == [
        f"income not given — check the 15,719{NBSP}₽ threshold"
    ]
    assert check({"children_min": 3}, FamilyProfile(children=kids(1)), en)[1] == [
        "1 child in the family, but it needs at least 3 children"
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
    assert placeholders(own["screener.reason.child_age.met"]) == {"age", "range"}


def test_unknown_reason_code_is_visible_not_silent(ru: Translator) -> None:
    assert render_reason(Reason("new_code", {}, None), ru) == "screener.reason.new_code.unknown"


def test_measure_verdict_counts_unknowns_without_headers() -> None:
    verdict = MeasureVerdict(
        "x",
        Verdict.MAYBE,
        (Reason("any_of", {}, None), Reason("student", {}, None), Reason("citizen", {}, True)),
    )
    assert verdict.unknown_count == 1
