"""Catalogue search on a small hand-made catalogue: Russian forms, colloquial names, typos."""

from __future__ import annotations

import time

import pytest

from core.search import Hit, NeedTerms, SearchDoc, SearchIndex, analyze


def doc(
    id: str,
    title: str,
    *,
    kind: str = "measure",
    region: str | None = None,
    keywords: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
    body: str = "",
) -> SearchDoc:
    return SearchDoc(id, kind, region, title, keywords, needs, body)


DOCS = [
    doc(
        "fed-matcap",
        "Материнский (семейный) капитал",
        keywords=("маткапитал", "МСК", "сертификат"),
        needs=("newborn", "housing"),
        body="Сертификат при рождении или усыновлении ребёнка: жильё, образование, пенсия мамы.",
    ),
    doc(
        "fed-matcap-monthly",
        "Ежемесячная выплата из материнского капитала",
        needs=("child_0_3", "low_income"),
        body="Ежемесячно из средств сертификата до трёх лет ребёнка семьям с низким доходом.",
    ),
    doc(
        "fed-unified-allowance-children",
        "Единое пособие на детей до 17 лет",
        keywords=("единое пособие", "детские", "ЕП"),
        needs=("low_income", "child_3_17"),
        body="Ежемесячное пособие малоимущим семьям с детьми, доход ниже прожиточного минимума.",
    ),
    doc(
        "fed-maternity-benefit",
        "Пособие по беременности и родам",
        keywords=("декретные", "БиР"),
        needs=("pregnancy",),
        body="Оплата отпуска по беременности и родам работающим и студенткам.",
    ),
    doc(
        "fed-childcare-allowance",
        "Пособие по уходу за ребёнком до полутора лет",
        keywords=("по уходу до 1,5",),
        needs=("child_0_3", "parent_employment"),
        body="Ежемесячно 40% заработка на время отпуска по уходу за ребёнком.",
    ),
    doc(
        "fed-family-mortgage",
        "Семейная ипотека",
        keywords=("ипотека 6%", "льготная ипотека"),
        needs=("housing",),
        body="Кредит на жильё под 6 процентов семьям с детьми.",
    ),
    doc(
        "fed-large-family-status",
        "Статус многодетной семьи и удостоверение",
        keywords=("многодетка", "удостоверение многодетной"),
        needs=("large_family",),
        body="Семья с тремя и более детьми получает статус и единое удостоверение.",
    ),
    doc(
        "fed-social-contract",
        "Социальный контракт",
        keywords=("соцконтракт",),
        needs=("low_income", "parent_employment"),
        body="Помощь малоимущим семьям на поиск работы, обучение, своё дело.",
    ),
    doc(
        "fed-free-legal-aid",
        "Бесплатная юридическая помощь",
        keywords=("бесплатный юрист", "адвокат"),
        needs=("legal_aid",),
        body="Консультации и составление документов для малоимущих и родителей детей-инвалидов.",
    ),
    doc(
        "tam-kindergarten-compensation",
        "Компенсация родительской платы за детский сад",
        region="RU-TAM",
        keywords=("садик", "оплата садика"),
        needs=("child_3_17", "low_income"),
        body="Часть платы за присмотр и уход в детском саду возвращается родителям.",
    ),
    doc(
        "tam-large-family-land",
        "Земельный участок многодетным семьям Тамбовской области",
        region="RU-TAM",
        keywords=("земля многодетным",),
        needs=("large_family", "housing"),
        body="Бесплатный участок под строительство дома.",
    ),
    doc(
        "mos-large-family-payment",
        "Ежемесячная выплата многодетным семьям Подмосковья",
        region="RU-MOS",
        keywords=("многодетные выплаты",),
        needs=("large_family",),
        body="Деньги на каждого ребёнка в многодетной семье Московской области.",
    ),
    doc(
        "niz-crisis-center",
        "Кризисный центр для женщин «Надежда»",
        kind="organization",
        region="RU-NIZ",
        keywords=("приют", "домашнее насилие"),
        needs=("crisis",),
        body="Временное проживание и помощь женщинам с детьми, пострадавшим от насилия.",
    ),
    doc(
        "niz-psychologist",
        "Консультация семейного психолога — Центр «Лад»",
        kind="consultation",
        region="RU-NIZ",
        needs=("psych_help",),
        body="Бесплатная встреча с психологом для родителей и подростков.",
    ),
]

NEEDS = [
    NeedTerms("pregnancy", "Беременность", ("беременна", "жду ребенка", "декрет")),
    NeedTerms("newborn", "Рождение ребёнка", ("родила", "новорожденный", "роддом")),
    NeedTerms("child_0_3", "Ребёнок до 3 лет", ("малыш", "младенец")),
    NeedTerms("child_3_17", "Ребёнок от 3 до 17 лет", ("школьник", "садик", "школа")),
    NeedTerms("large_family", "Многодетная семья", ("многодетные", "трое детей")),
    NeedTerms("low_income", "Низкий доход", ("малоимущие", "нечем платить", "не хватает денег")),
    NeedTerms("housing", "Жильё", ("квартира", "ипотека", "жилье")),
    NeedTerms("parent_employment", "Работа родителей", ("работа", "безработная")),
    NeedTerms("legal_aid", "Юридическая помощь", ("юрист", "адвокат", "суд")),
    NeedTerms("crisis", "Кризисная ситуация", ("муж бьет", "насилие", "побои", "выгнали")),
    NeedTerms("psych_help", "Психологическая помощь", ("психолог", "депрессия", "нет сил")),
    NeedTerms("single_parent", "Одинокий родитель", ("без мужа", "мать-одиночка")),
    NeedTerms("humanitarian_aid", "Продукты и вещи", ("нечего есть", "подгузники")),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex.build(DOCS, NEEDS)


def ids(hits: list[Hit]) -> list[str]:
    return [h.id for h in hits]


def top(index: SearchIndex, query: str, n: int = 1, region: str | None = None) -> list[str]:
    return ids(index.search(query, region=region, limit=n))


# --- normalisation ------------------------------------------------------------------------


def test_analyze_lowercases_folds_yo_and_drops_stop_words() -> None:
    assert analyze("Где мне получить ПОСОБИЕ на ребёнка?!") == analyze("пособие ребенка")
    assert analyze("пособие ребенка") == ["пособ", "ребенк"]


def test_analyze_strips_emoji_and_punctuation() -> None:
    assert analyze("👶🍼 «маткапитал»!!! 🙏") == ["маткапита"]


@pytest.mark.parametrize("form", ["пособия", "пособие", "пособием", "ПОСОБИЯМИ"])
def test_inflected_forms_share_a_stem(form: str) -> None:
    assert analyze(form) == analyze("пособие")


def test_nominative_and_oblique_child_share_a_stem() -> None:
    assert analyze("ребенок") == analyze("ребенка") == analyze("ребёнку")


# --- inflections and colloquial names -----------------------------------------------------


@pytest.mark.parametrize("query", ["многодетным", "многодетная", "многодетной семье"])
def test_inflected_query_finds_large_family_status(index: SearchIndex, query: str) -> None:
    assert "fed-large-family-status" in top(index, query, 3)


def test_inflected_query_ranks_title_match_first(index: SearchIndex) -> None:
    assert top(index, "пособием по беременности") == ["fed-maternity-benefit"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("маткапитал", "fed-matcap"),
        ("мат капитал", "fed-matcap"),
        ("материнский капитал", "fed-matcap"),
        ("декретные", "fed-maternity-benefit"),
        ("детские", "fed-unified-allowance-children"),
        ("соцконтракт", "fed-social-contract"),
        ("соц контракт", "fed-social-contract"),
        ("ЕП", "fed-unified-allowance-children"),
        ("ипотека 6%", "fed-family-mortgage"),
        ("многодетка", "fed-large-family-status"),
    ],
)
def test_colloquial_names(index: SearchIndex, query: str, expected: str) -> None:
    assert top(index, query) == [expected]


def test_glued_name_finds_docs_without_that_keyword(index: SearchIndex) -> None:
    # The monthly payment never says "маткапитал": the expansion table gets it there.
    assert "fed-matcap-monthly" in top(index, "маткапитал", 3)


def test_kindergarten_colloquial_in_region(index: SearchIndex) -> None:
    assert top(index, "детсад", region="RU-TAM") == ["tam-kindergarten-compensation"]


# --- typos --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("материнсикй капитал", "fed-matcap"),
        ("матиринский капитал", "fed-matcap"),
        ("пасобие по беременности", "fed-maternity-benefit"),
        ("соцконтрак", "fed-social-contract"),
        ("ипатека семейная", "fed-family-mortgage"),
        ("многодетныи", "fed-large-family-status"),
        ("мнгодетная семья", "fed-large-family-status"),
    ],
)
def test_typos(index: SearchIndex, query: str, expected: str) -> None:
    assert expected in top(index, query, 2)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("мнгодетка", "fed-large-family-status"),
        ("декретнные", "fed-maternity-benefit"),
        ("саццальный кантракт", "fed-social-contract"),
        ("юредическая", "fed-free-legal-aid"),
    ],
)
def test_typo_in_the_only_word(index: SearchIndex, query: str, expected: str) -> None:
    assert top(index, query) == [expected]


def test_unfinished_word_is_a_prefix(index: SearchIndex) -> None:
    assert top(index, "соцконтр") == ["fed-social-contract"]


def test_typo_scores_below_exact(index: SearchIndex) -> None:
    exact = index.search("ипотека")[0]
    typo = index.search("ипатека")[0]
    assert exact.id == typo.id == "fed-family-mortgage"
    assert typo.score < exact.score


def test_short_tokens_are_not_fuzzed(index: SearchIndex) -> None:
    # "сод" is one letter from "сад", but three letters are too few to guess from.
    assert index.search("сод") == []


def test_wrong_keyboard_layout(index: SearchIndex) -> None:
    assert top(index, "vfnrfgbnfk") == ["fed-matcap"]  # маткапитал typed in English layout


def test_latin_lookalike_letters(index: SearchIndex) -> None:
    # Latin "c", "o", "p", "a" in a Cyrillic word: too many for a typo, but the same word.
    assert top(index, "coцкoнтpaкт") == ["fed-social-contract"]


# --- needs --------------------------------------------------------------------------------


def test_matched_needs_named_by_synonyms(index: SearchIndex) -> None:
    assert index.matched_needs("нечем платить за садик") == ["low_income", "child_3_17"]
    assert index.matched_needs("муж бьёт") == ["crisis"]
    assert index.matched_needs("нужен психолог") == ["psych_help"]
    assert index.matched_needs("погода завтра") == []


def test_need_phrases_keep_their_negations(index: SearchIndex) -> None:
    # "без мужа" and "муж бьёт" share a word; "нет сил" and "сила" share a stem;
    # "нечем" and "нечего" share a stem for the stemmer but not for a family.
    assert index.matched_needs("осталась без мужа") == ["single_parent"]
    assert "single_parent" not in index.matched_needs("муж бьёт")
    assert index.matched_needs("нет сил") == ["psych_help"]
    assert index.matched_needs("сила воли") == []
    assert index.matched_needs("нечего есть") == ["humanitarian_aid"]
    assert "humanitarian_aid" not in index.matched_needs("нечем платить")


def test_need_phrase_without_title_words_finds_tagged_docs(index: SearchIndex) -> None:
    assert top(index, "муж бьёт", region="RU-NIZ") == ["niz-crisis-center"]
    assert top(index, "нужен психолог", region="RU-NIZ") == ["niz-psychologist"]


def test_need_words_boost_tagged_docs(index: SearchIndex) -> None:
    hits = top(index, "нечем платить за садик", 3, region="RU-TAM")
    assert hits[0] == "tam-kindergarten-compensation"
    # Low income is named, so a low-income measure comes before anything else.
    assert set(hits[1:]) & {"fed-unified-allowance-children", "fed-social-contract"}


def test_need_tag_alone_links_query_to_docs(index: SearchIndex) -> None:
    # No document text says "выгнали" or "трое": only the need tags connect them.
    assert top(index, "выгнали из дома", region="RU-NIZ") == ["niz-crisis-center"]
    assert set(top(index, "у нас трое детей", 2, region="RU-MOS")) == {
        "mos-large-family-payment",
        "fed-large-family-status",
    }


def test_closest_needs_for_near_miss(index: SearchIndex) -> None:
    assert index.closest_needs("психологг срочно")[:1] == ["psych_help"]
    assert "large_family" in index.closest_needs("у нас трое детишек")
    assert index.closest_needs("муж бьёт")[0] == "crisis"  # named outright, so first


def test_closest_needs_may_be_empty(index: SearchIndex) -> None:
    assert index.closest_needs("zzzz qqqq") == []
    assert index.closest_needs("") == []
    assert index.closest_needs("пособие", limit=0) == []


# --- region filter and ranking ------------------------------------------------------------


def test_region_keeps_own_and_federal(index: SearchIndex) -> None:
    tam = ids(index.search("многодетным", region="RU-TAM", limit=20))
    assert "tam-large-family-land" in tam
    assert "fed-large-family-status" in tam
    assert "mos-large-family-payment" not in tam


def test_no_region_means_every_region(index: SearchIndex) -> None:
    everything = ids(index.search("многодетным", limit=20))
    assert {"tam-large-family-land", "mos-large-family-payment", "fed-large-family-status"} <= set(
        everything
    )


def test_unknown_region_gets_federal_only(index: SearchIndex) -> None:
    hits = index.search("многодетным", region="RU-XXX", limit=20)
    assert hits
    assert all(h.id.startswith("fed-") for h in hits)


def test_title_beats_body(index: SearchIndex) -> None:
    # "ипотека" is the title of one doc and body of none; "жилье" is in bodies only.
    hits = top(index, "семейная ипотека жилье", 3)
    assert hits[0] == "fed-family-mortgage"


def test_ranking_order_and_scores(index: SearchIndex) -> None:
    hits = index.search("ежемесячная выплата материнский капитал")
    assert ids(hits)[:2] == ["fed-matcap-monthly", "fed-matcap"]
    # The query names a measure: what only shares the topic comes after the measures.
    first = [h for h in hits if h.kind == "measure" or h.complete]
    after = [h for h in hits if not (h.kind == "measure" or h.complete)]
    assert hits == first + after
    for group in (first, after):
        scores = [h.score for h in group]
        assert scores == sorted(scores, reverse=True)
    assert all(h.score == round(h.score, 3) > 0 for h in hits)


def test_exact_title_phrase_wins_a_tie() -> None:
    twins = [
        doc("reversed", "Ипотека семейная", body="кредит"),
        doc("exact", "Семейная ипотека", body="кредит"),
    ]
    index = SearchIndex.build(twins, [])
    hits = index.search("семейная ипотека")
    assert ids(hits) == ["exact", "reversed"]
    assert hits[0].score > hits[1].score
    # Without the phrase the two are equal and the catalogue order decides.
    assert ids(index.search("ипотека")) == ["reversed", "exact"]


def test_synonyms_of_one_word_count_once() -> None:
    # "юрист" expands to юридическая помощь / адвокат / юридическая консультация; an entry
    # that lists all of them must not outscore the one that is literally about a lawyer.
    docs = [
        doc(
            "bureau",
            "Правовое бюро",
            keywords=("юридическая помощь", "адвокат", "юридическая консультация"),
        ),
        doc("lawyer", "Юрист для семьи"),
    ]
    assert ids(SearchIndex.build(docs, []).search("юрист")) == ["lawyer", "bureau"]


def test_search_is_deterministic(index: SearchIndex) -> None:
    again = SearchIndex.build(DOCS, NEEDS)
    for query in ("многодетным", "пособие", "мнгодетная", "садик"):
        assert index.search(query) == again.search(query)


def test_limit_and_deduplication() -> None:
    duplicated = SearchIndex.build([*DOCS, DOCS[0], DOCS[0]], NEEDS)
    hits = duplicated.search("капитал", limit=50)
    assert len(ids(hits)) == len(set(ids(hits)))
    assert len(duplicated.search("пособие", limit=2)) == 2
    assert duplicated.search("пособие", limit=0) == []


def test_hit_carries_kind_and_title(index: SearchIndex) -> None:
    hit = index.search("психолог", region="RU-NIZ")[0]
    assert (hit.id, hit.kind) == ("niz-psychologist", "consultation")
    assert hit.title.startswith("Консультация семейного психолога")


# --- garbage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "🙂🙂🙂👶",
        "'; DROP TABLE measures; --",
        "1234567890",
        "как где что мне",
        "\x00\x01\u200b",
        "SELECT * FROM users WHERE 1=1",
    ],
)
def test_garbage_returns_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query) == []
    assert index.matched_needs(query) == []


def test_very_long_query_is_fast_and_sane(index: SearchIndex) -> None:
    query = "маткапитал " + "абракадабра " * 900  # ~10 000 characters
    assert len(query) > 10_000
    started = time.perf_counter()
    hits = index.search(query)
    assert time.perf_counter() - started < 0.5
    assert ids(hits)[:1] == ["fed-matcap"]


def test_random_noise_never_raises(index: SearchIndex) -> None:
    import random

    rng = random.Random(7)
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяabcxyz0123456789 .,;'\"%$#@!?-–—«»🙂\n\t"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        hits = index.search(text, region=rng.choice([None, "RU-TAM", "RU-MOS"]))
        assert len(hits) <= 10
        index.closest_needs(text)
