"""Catalogue search: Russian stemming, colloquial expansions, typo tolerance, BM25F.

The rooms: `words` (text to stems), `colloquial` (synonyms and expansions), `query` (a parsed
query's shape and weights), `index` (the in-memory index and its ranking), `docs` (what is
searched, what a hit is), `discovery` (the use cases around it: the search log, the family
profile, measure feedback; imported as `core.search.discovery`, it needs the database).
"""

from core.search.docs import Hit, NeedTerms, SearchDoc, build_docs, build_need_terms
from core.search.index import SearchIndex
from core.search.words import analyze

__all__ = [
    "Hit",
    "NeedTerms",
    "SearchDoc",
    "SearchIndex",
    "analyze",
    "build_docs",
    "build_need_terms",
]
