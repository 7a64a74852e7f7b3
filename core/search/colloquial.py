"""Colloquial names and what they mean: synonym groups and one-way expansions, stemmed
once at import into a table looked up by a phrase's first stem.
"""

from __future__ import annotations

from core.search.words import analyze

# Names that mean the same thing: any one in a query adds the others.
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("маткапитал", "материнский капитал", "мат капитал", "семейный капитал"),
    ("соцконтракт", "социальный контракт", "соц контракт"),
    ("садик", "детский сад", "детсад", "ясли"),
    ("многодетка", "многодетная семья", "многодетные"),
    ("декретные", "декрет", "беременность и роды", "бир"),
    ("единое пособие", "еп", "универсальное пособие", "единая выплата"),
    ("семейная ипотека", "ипотека 6", "ипотека под 6", "льготная ипотека"),
    ("налоговый вычет", "вычет ндфл", "вычет на детей"),
    ("семейная выплата", "налоговая выплата", "ежегодная семейная выплата"),
    ("юридическая помощь", "юрист", "адвокат", "юридическая консультация"),
    ("психологическая помощь", "психолог", "психотерапевт"),
    ("малоимущие", "малообеспеченные", "низкий доход", "бедные"),
    ("ребенок инвалид", "особенный ребенок", "особый ребенок", "инвалидность ребенка"),
    ("кризисный центр", "приют", "убежище"),
)

# One-way: the colloquial phrase on the left also searches for the words on the right.
_EXPANSIONS: tuple[tuple[str, str], ...] = (
    ("маткапитал", "материнский капитал"),
    ("детские", "пособие на ребенка"),
    ("детские деньги", "пособие на ребенка"),
    ("единое", "единое пособие"),
    ("ипотека 6", "семейная ипотека"),
    ("450", "многодетным погашение ипотеки"),
    ("450 тысяч", "многодетным погашение ипотеки"),
    ("450000", "многодетным погашение ипотеки"),
    ("полтора", "уход за ребенком"),
    ("полутора", "уход за ребенком"),
    ("1 5", "уход за ребенком"),
    ("декрет", "уход за ребенком"),
    ("бьет", "насилие"),
    ("избивает", "насилие"),
    ("побои", "насилие"),
    ("абьюз", "насилие"),
    ("обижает", "насилие"),
    ("угрожает", "насилие"),
    ("родила", "рождение ребенка"),
    ("родился", "рождение ребенка"),
    ("родилась", "рождение ребенка"),
    ("новорожденный", "рождение ребенка"),
    ("беременна", "беременность"),
    ("жду ребенка", "беременность"),
    ("нечем платить", "малоимущие"),
    ("не хватает денег", "малоимущие"),
    ("безработная", "работа занятость"),
    ("переучиться", "переобучение"),
    ("курсы", "переобучение обучение"),
    ("квартира", "жилье"),
    ("жилплощадь", "жилье"),
    ("удостоверение многодетной", "статус многодетной семьи"),
    ("инвалид", "инвалидность"),
    ("налоги", "налоговый"),
    ("пенсия многодетной", "досрочная пенсия"),
    ("бесплатный юрист", "бесплатная юридическая помощь"),
    ("депрессия", "психологическая помощь"),
    ("тревога", "психологическая помощь"),
)


Phrase = tuple[str, ...]


def _compile_expansions() -> dict[str, list[tuple[Phrase, tuple[Phrase, ...]]]]:
    """First stem of a pattern -> [(pattern, the phrases it may also mean)], longest first."""
    pairs: dict[Phrase, list[Phrase]] = {}
    for group in _SYNONYM_GROUPS:
        stemmed = [tuple(analyze(phrase)) for phrase in group]
        for pattern in stemmed:
            # "многодетные" means "многодетка" but not the "семья" of "многодетная семья":
            # a longer member that contains the pattern adds context, not a synonym.
            others = [o for o in stemmed if o != pattern and not set(pattern) <= set(o)]
            pairs.setdefault(pattern, []).extend(others)
    for source, target in _EXPANSIONS:
        pairs.setdefault(tuple(analyze(source)), []).append(tuple(analyze(target)))
    table: dict[str, list[tuple[Phrase, tuple[Phrase, ...]]]] = {}
    for pattern, meanings in pairs.items():
        unique = tuple(dict.fromkeys(m for m in meanings if m and m != pattern))
        if pattern and unique:
            table.setdefault(pattern[0], []).append((pattern, unique))
    for patterns in table.values():
        patterns.sort(key=lambda pair: -len(pair[0]))
    return table


EXPANSION_TABLE = _compile_expansions()
EXPANSION_STEMS = frozenset(
    s
    for patterns in EXPANSION_TABLE.values()
    for pattern, meanings in patterns
    for s in (*pattern, *(t for m in meanings for t in m))
)
