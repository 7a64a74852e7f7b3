"""What a parsed query is: concepts, each a choice of weighted alternatives, and the weights
of the terms that were not typed as such (expansions, layout fixes, typo corrections).
"""

from __future__ import annotations

from dataclasses import dataclass

# Weights of the query terms that did not come from the text as typed.
EXPANSION_WEIGHT = 0.7
LAYOUT_WEIGHT = 0.9
FUZZY_WEIGHTS = {1: 0.75, 2: 0.55}
PREFIX_WEIGHT = 0.5
FUZZY_CACHE_SIZE = 4_096
NEED_WEIGHT = 1.5
NEED_MATCH_MIN_WEIGHT = 0.7


# A query is a list of concepts: one per word (or per glued phrase such as "мат капитал").
# A concept is a choice of alternatives: the word as typed, its typo corrections, and the
# colloquial meanings of the expansion tables. A document scores the best alternative of each
# concept, so a word with five synonyms does not count five times.
Alternative = tuple[tuple[str, float], ...]  # (stem, weight) pairs, scored as a sum
Concept = tuple[Alternative, ...]  # scored as the best of its alternatives


@dataclass(slots=True)
class Query:
    concepts: list[Concept]
    terms: dict[str, float]  # every stem of every alternative -> its highest weight
    phrase: tuple[str, ...]  # the stems as typed (after correction), for the phrase bonus


@dataclass(slots=True)
class QueryWord:
    stem: str  # as typed, or its closest correction
    weight: float
    alternatives: list[Alternative]


Corrections = tuple[tuple[str, float], ...]  # (vocabulary stem, weight)
