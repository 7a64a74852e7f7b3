"""Search index benchmark on a synthetic 20 000-entry catalogue: build time and query latency."""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import time
from dataclasses import dataclass

from core.search import NeedTerms, SearchDoc, SearchIndex

# Domain words with a few of their case forms; the first form goes into titles most often.
WORDS: tuple[tuple[str, ...], ...] = (
    ("пособие", "пособия", "пособием", "пособий", "пособиям"),
    ("выплата", "выплаты", "выплату", "выплатой", "выплат"),
    ("компенсация", "компенсации", "компенсацию", "компенсаций"),
    ("ежемесячная", "ежемесячной", "ежемесячную", "ежемесячные"),
    ("единовременная", "единовременной", "единовременную"),
    ("ежегодная", "ежегодной", "ежегодную"),
    ("семья", "семьи", "семьям", "семей", "семье"),
    ("многодетная", "многодетной", "многодетным", "многодетных", "многодетные"),
    ("молодая", "молодой", "молодым", "молодых"),
    ("малоимущая", "малоимущей", "малоимущим", "малоимущих"),
    ("неполная", "неполной", "неполным"),
    ("ребенок", "ребенка", "ребенку", "ребенком", "детей", "дети", "детям"),
    ("школьник", "школьника", "школьникам", "школьников"),
    ("студентка", "студентки", "студенткам", "студентов"),
    ("беременная", "беременной", "беременным", "беременности"),
    ("мать", "матери", "матерям", "мама", "маме"),
    ("отец", "отца", "отцу", "отцам"),
    ("родитель", "родителя", "родителям", "родителей"),
    ("инвалид", "инвалида", "инвалидам", "инвалидностью", "инвалидности"),
    ("опекун", "опекуна", "опекунам", "опеки"),
    ("материнский", "материнского", "материнским"),
    ("капитал", "капитала", "капиталом"),
    ("региональный", "регионального", "региональным"),
    ("семейный", "семейного", "семейным", "семейная", "семейной"),
    ("ипотека", "ипотеки", "ипотеку", "ипотекой"),
    ("кредит", "кредита", "кредиту", "кредитов"),
    ("жилье", "жилья", "жильем", "жилищных"),
    ("квартира", "квартиры", "квартиру"),
    ("земельный", "земельного", "земельным"),
    ("участок", "участка", "участки"),
    ("сад", "сада", "саду", "садов"),
    ("детский", "детского", "детском", "детских"),
    ("школа", "школы", "школе", "школ"),
    ("форма", "формы", "форму"),
    ("питание", "питания", "питанием"),
    ("бесплатный", "бесплатного", "бесплатное", "бесплатная", "бесплатные"),
    ("проезд", "проезда", "проездом"),
    ("лекарство", "лекарства", "лекарств", "лекарствами"),
    ("путевка", "путевки", "путевку", "путевок"),
    ("лагерь", "лагеря", "лагерь", "лагерей"),
    ("отдых", "отдыха", "отдыхом"),
    ("оздоровление", "оздоровления", "оздоровлением"),
    ("налоговый", "налогового", "налоговым", "налоговая"),
    ("вычет", "вычета", "вычеты", "вычетов"),
    ("льгота", "льготы", "льготу", "льгот"),
    ("транспортный", "транспортного", "транспортным"),
    ("налог", "налога", "налогу", "налогов"),
    ("пенсия", "пенсии", "пенсию", "пенсий"),
    ("досрочная", "досрочной", "досрочную"),
    ("социальный", "социального", "социальным", "социальная", "социальной"),
    ("контракт", "контракта", "контрактом"),
    ("помощь", "помощи", "помощью"),
    ("юридическая", "юридической", "юридическую"),
    ("психологическая", "психологической", "психологическую"),
    ("консультация", "консультации", "консультацию", "консультаций"),
    ("психолог", "психолога", "психологом", "психологу"),
    ("юрист", "юриста", "юристом", "юристу"),
    ("центр", "центра", "центре", "центров"),
    ("кризисный", "кризисного", "кризисном"),
    ("приют", "приюта", "приюте"),
    ("фонд", "фонда", "фонде"),
    ("поддержка", "поддержки", "поддержку", "поддержкой"),
    ("рождение", "рождения", "рождении", "рождением"),
    ("уход", "ухода", "уходу", "уходом"),
    ("отпуск", "отпуска", "отпуском"),
    ("декретный", "декретного", "декретные"),
    ("удостоверение", "удостоверения", "удостоверением"),
    ("статус", "статуса", "статусом"),
    ("награда", "награды", "наградой"),
    ("медаль", "медали", "медалью"),
    ("переобучение", "переобучения", "переобучением"),
    ("обучение", "обучения", "обучением"),
    ("работа", "работы", "работу", "работой"),
    ("занятость", "занятости", "занятостью"),
    ("газификация", "газификации", "газификацию"),
    ("коммунальный", "коммунальных", "коммунальные"),
    ("услуга", "услуги", "услуг", "услугам"),
    ("автомобиль", "автомобиля", "автомобилем"),
    ("подарок", "подарка", "подарки"),
    ("набор", "набора", "наборы"),
    ("новорожденный", "новорожденного", "новорожденным", "новорожденных"),
    ("область", "области", "областью"),
    ("район", "района", "районе"),
    ("город", "города", "городе"),
)
CONNECTORS = ("на", "для", "по", "при", "из", "за", "и", "до", "с")
COLLOQUIAL = (
    "маткапитал",
    "мат капитал",
    "декретные",
    "детские",
    "многодетка",
    "соцконтракт",
    "садик",
    "ЕП",
    "единое пособие",
    "ипотека 6%",
    "полторашка по уходу",
    "нечем платить за садик",
    "муж бьёт что делать",
    "нужен психолог для подростка",
    "бесплатный юрист",
    "выгнали из дома с детьми",
    "450 тысяч на ипотеку",
    "удостоверение многодетной",
    "пособие до 1.5 лет",
    "как встать в очередь в садик",
)
GARBAGE = (
    "",
    "🙂🙂🙂",
    "'; DROP TABLE measures; --",
    "1234567890",
    "SELECT * FROM users WHERE 1=1",
    "asdf qwer zxcv",
    "???!!!...",
    "ааааааааааааааааааааааааааааааа",
)
NEEDS = (
    NeedTerms("pregnancy", "Беременность", ("беременна", "жду ребенка", "декрет")),
    NeedTerms("newborn", "Рождение ребенка", ("родила", "новорожденный", "роддом")),
    NeedTerms("child_0_3", "Ребенок до 3 лет", ("малыш", "ясли", "младенец")),
    NeedTerms("child_3_17", "Ребенок от 3 до 17 лет", ("школьник", "садик", "школа")),
    NeedTerms("large_family", "Многодетная семья", ("многодетные", "трое детей")),
    NeedTerms("low_income", "Низкий доход", ("малоимущие", "нечем платить", "нет денег")),
    NeedTerms("disabled_child", "Ребенок с инвалидностью", ("инвалид", "особенный ребенок")),
    NeedTerms("housing", "Жилье", ("квартира", "ипотека", "жилье")),
    NeedTerms("parent_employment", "Работа родителей", ("работа", "безработная")),
    NeedTerms("tax", "Налоги", ("вычет", "налог")),
    NeedTerms("student_parent", "Родитель-студент", ("студентка", "учусь")),
    NeedTerms("single_parent", "Один родитель", ("одна воспитываю", "мать-одиночка")),
    NeedTerms("crisis", "Кризисная ситуация", ("муж бьет", "насилие", "выгнали")),
    NeedTerms("legal_aid", "Юридическая помощь", ("юрист", "адвокат", "суд")),
    NeedTerms("psych_help", "Психологическая помощь", ("психолог", "депрессия")),
)
REGIONS = [
    "RU-TAM",
    "RU-MOS",
    "RU-NIZ",
    "RU-MOW",
    "RU-SPE",
    "RU-TA",
    "RU-BA",
    "RU-SVE",
    "RU-NVS",
    "RU-KDA",
    "RU-ROS",
    "RU-VOR",
    "RU-LIP",
    "RU-RYA",
    "RU-PNZ",
    "RU-SAR",
    "RU-ULY",
    "RU-KLU",
    "RU-TUL",
    "RU-ORL",
]
SYLLABLES = [
    "но",
    "во",
    "ка",
    "ли",
    "ре",
    "ми",
    "ска",
    "ров",
    "град",
    "бор",
    "ев",
    "ин",
    "ск",
    "ольск",
    "ица",
    "ань",
    "ово",
    "ино",
    "ель",
    "дон",
]
KINDS = ("measure", "organization", "consultation")


@dataclass(frozen=True)
class Query:
    text: str
    region: str | None
    kind: str


def place_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def phrase(rng: random.Random, size: int) -> str:
    words: list[str] = []
    for i in range(size):
        if i and rng.random() < 0.3:
            words.append(rng.choice(CONNECTORS))
        forms = rng.choice(WORDS)
        words.append(forms[0] if rng.random() < 0.4 else rng.choice(forms))
    return " ".join(words)


def make_catalogue(size: int, seed: int) -> list[SearchDoc]:
    rng = random.Random(seed)
    places = [place_name(rng) for _ in range(3_000)]
    docs: list[SearchDoc] = []
    for i in range(size):
        kind = rng.choices(KINDS, weights=(5, 3, 2))[0]
        region = None if rng.random() < 0.1 else rng.choice(REGIONS)
        title = phrase(rng, rng.randint(3, 7))
        if kind != "measure" or rng.random() < 0.3:
            title = f"{title} «{rng.choice(places)}»"
        keywords = tuple(rng.choice(COLLOQUIAL[:10]) for _ in range(rng.randint(0, 3)))
        needs = tuple(rng.sample([n.id for n in NEEDS], rng.randint(1, 3)))
        body = ". ".join(phrase(rng, rng.randint(6, 14)) for _ in range(rng.randint(1, 3)))
        docs.append(SearchDoc(f"doc-{i:05d}", kind, region, title, keywords, needs, body))
    return docs


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    edit = rng.choice(("swap", "drop", "double", "replace"))
    if edit == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if edit == "drop":
        return word[:i] + word[i + 1 :]
    if edit == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("аеиоуыя") + word[i + 1 :]


def make_queries(docs: list[SearchDoc], count: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    regions: list[str | None] = [None, "RU-TAM", "RU-MOS", "RU-NIZ"]
    queries: list[Query] = []
    for _ in range(count):
        region = rng.choice(regions)
        roll = rng.random()
        title_words = [w for w in rng.choice(docs).title.split() if len(w) > 2]
        start = rng.randrange(len(title_words))
        picked = title_words[start : start + rng.randint(1, 3)]
        if roll < 0.35:
            queries.append(Query(" ".join(picked), region, "exact"))
        elif roll < 0.50:
            forms = [rng.choice(rng.choice(WORDS)) for _ in range(rng.randint(1, 3))]
            queries.append(Query(" ".join(forms), region, "inflected"))
        elif roll < 0.70:
            queries.append(Query(" ".join(typo(rng, w) for w in picked), region, "typo"))
        elif roll < 0.90:
            queries.append(Query(rng.choice(COLLOQUIAL), region, "colloquial"))
        elif roll < 0.98:
            queries.append(Query(rng.choice(GARBAGE), region, "garbage"))
        else:
            text = " ".join(phrase(rng, 20) for _ in range(60))[:10_000]
            queries.append(Query(text, region, "garbage-long"))
    return queries


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50), 3),
        "p95_ms": round(percentile(ordered, 95), 3),
        "p99_ms": round(percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3) if ordered else 0.0,
        "mean_ms": round(statistics.fmean(ordered), 3) if ordered else 0.0,
    }


def run(docs_count: int, queries_count: int, seed: int) -> dict[str, object]:
    docs = make_catalogue(docs_count, seed)
    queries = make_queries(docs, queries_count, seed + 1)

    gc.collect()
    started = time.perf_counter()
    index = SearchIndex.build(docs, NEEDS)
    build_s = time.perf_counter() - started

    latencies: dict[str, list[float]] = {}
    all_ms: list[float] = []
    empty = 0
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query.text, region=query.region, limit=10)
        elapsed = (time.perf_counter() - started) * 1000
        latencies.setdefault(query.kind, []).append(elapsed)
        all_ms.append(elapsed)
        empty += not hits

    # The "nothing found" path: nearest needs for the queries that found nothing.
    closest_ms: list[float] = []
    for query in queries:
        if query.kind.startswith("garbage"):
            started = time.perf_counter()
            index.closest_needs(query.text)
            closest_ms.append((time.perf_counter() - started) * 1000)

    return {
        "python": platform.python_version(),
        "docs": index.size,
        "queries": len(queries),
        "build_s": round(build_s, 3),
        "search": summarize(all_ms),
        "by_kind": {kind: summarize(values) for kind, values in sorted(latencies.items())},
        "closest_needs": summarize(closest_ms),
        "empty_results": empty,
    }


def print_table(result: dict[str, object]) -> None:
    print(
        f"catalogue: {result['docs']} docs, {result['queries']} queries, "
        f"Python {result['python']}; index build {result['build_s']:.3f} s"
    )
    header = f"{'queries':<16}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    print(header)
    print("-" * len(header))
    rows: list[tuple[str, object]] = [("all (search)", result["search"])]
    by_kind = result["by_kind"]
    assert isinstance(by_kind, dict)
    rows.extend((f"  {kind}", stats) for kind, stats in by_kind.items())
    rows.append(("closest_needs", result["closest_needs"]))
    for name, stats in rows:
        assert isinstance(stats, dict)
        print(
            f"{name:<16}{stats['n']:>6}{stats['p50_ms']:>10.3f}{stats['p95_ms']:>10.3f}"
            f"{stats['p99_ms']:>10.3f}{stats['max_ms']:>10.3f}"
        )
    print(f"queries with no result: {result['empty_results']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20_26)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.docs, args.queries, args.seed)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
