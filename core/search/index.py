"""The in-memory index: BM25F over title, aliases, needs and body, with typo corrections,
expansions and need matching; built once per catalogue version, read by every search.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import itemgetter

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from core.search.colloquial import EXPANSION_STEMS, EXPANSION_TABLE, Phrase
from core.search.docs import Hit, NeedTerms, SearchDoc
from core.search.query import (
    EXPANSION_WEIGHT,
    FUZZY_CACHE_SIZE,
    FUZZY_WEIGHTS,
    LAYOUT_WEIGHT,
    NEED_MATCH_MIN_WEIGHT,
    NEED_WEIGHT,
    PREFIX_WEIGHT,
    Alternative,
    Concept,
    Corrections,
    Query,
    QueryWord,
)
from core.search.words import (
    LAYOUT,
    MAX_QUERY_CHARS,
    MAX_QUERY_TOKENS,
    MIN_FUZZY_LEN,
    NEGATIONS,
    STOP_WORDS,
    analyze,
    need_phrase_stems,
    normalize_text,
    split_words,
    stem_word,
)

_K1 = 1.2
# field: (weight, length normalisation b)
_TITLE = (3.0, 0.5)
_KEYWORDS = (3.0, 0.3)
_NEEDS = (1.5, 0.5)
_BODY = (0.5, 0.75)
_NEED_PREFIX = "\x00need:"  # a pseudo-term no analysed text can produce

_KIND_ORDER = {"measure": 0, "organization": 1, "consultation": 2}

# The query is the entry's title, has all the title's words, is one of its aliases, or has all
# of an alias's words. The title names the entry; aliases only point to it.
_TITLE_EXACT_BONUS = 1.3
_TITLE_WORDS_BONUS = 1.2
_KEYWORD_EXACT_BONUS = 1.2
_KEYWORD_WORDS_BONUS = 1.1


def _need_term(need_id: str) -> str:
    return _NEED_PREFIX + need_id


PostingList = tuple["array[int]", "array[float]"]  # doc indexes, their impacts for the term
Postings = dict[str | None, PostingList]  # by region; None holds the federal entries


def _add_into(scores: dict[int, float], lists: list[PostingList], weight: float) -> None:
    get = scores.get
    for docs, impacts in lists:
        for doc_idx, impact in zip(docs, impacts, strict=False):
            scores[doc_idx] = get(doc_idx, 0.0) + weight * impact


def _max_into(best: dict[int, float], lists: list[PostingList], weight: float) -> None:
    get = best.get
    for docs, impacts in lists:
        for doc_idx, impact in zip(docs, impacts, strict=False):
            score = weight * impact
            if score > get(doc_idx, 0.0):
                best[doc_idx] = score


class SearchIndex:
    """An immutable inverted index over the catalogue; build once, search many times."""

    def __init__(
        self,
        docs: list[SearchDoc],
        postings: dict[str, Postings],
        df: dict[str, int],
        need_phrases: list[tuple[str, frozenset[str], int]],
        title_phrases: list[Phrase],
        keyword_phrases: list[tuple[Phrase, ...]],
    ) -> None:
        self._docs = docs
        self._postings = postings
        self._df = df
        self._need_phrases = need_phrases
        self._need_order: dict[str, int] = {}
        for need_id, _, _ in need_phrases:
            self._need_order.setdefault(need_id, len(self._need_order))
        self._title_phrases = title_phrases
        self._keyword_phrases = keyword_phrases
        vocab = {t for t in df if not t.startswith(_NEED_PREFIX)}
        vocab.update(s for _, stems, _ in need_phrases for s in stems - NEGATIONS)
        vocab.update(EXPANSION_STEMS)
        self._vocab = frozenset(vocab)
        self._sorted_vocab = sorted(vocab)
        by_len: dict[int, list[str]] = {}
        for stem in self._sorted_vocab:
            if stem.isalpha():
                by_len.setdefault(len(stem), []).append(stem)
        self._vocab_by_len = by_len
        # Typo lookups repeat (the same misspelling from many families): a bounded cache each.
        self._corrections: Callable[[str], Corrections] = lru_cache(maxsize=FUZZY_CACHE_SIZE)(
            self._find_corrections
        )

    @property
    def size(self) -> int:
        return len(self._docs)

    @classmethod
    def build(cls, docs: Iterable[SearchDoc], needs: Iterable[NeedTerms]) -> SearchIndex:
        unique: dict[tuple[str, str], SearchDoc] = {}
        for doc in docs:
            unique.setdefault((doc.kind, doc.id), doc)  # the first entry of an id wins
        doc_list = list(unique.values())

        fields: list[tuple[list[str], list[str], list[str], list[str]]] = []
        title_phrases: list[Phrase] = []
        keyword_phrases: list[tuple[Phrase, ...]] = []
        for doc in doc_list:
            title = analyze(doc.title)
            keyword_stems = [analyze(k) for k in doc.keywords]
            keywords = [s for stems in keyword_stems for s in stems]
            need_terms = [_need_term(n) for n in dict.fromkeys(doc.needs)]
            body = analyze(doc.body)
            fields.append((title, keywords, need_terms, body))
            title_phrases.append(tuple(title))
            keyword_phrases.append(tuple(tuple(k) for k in keyword_stems if k))

        n_docs = len(doc_list)
        specs = (_TITLE, _KEYWORDS, _NEEDS, _BODY)
        avg = [
            max(1.0, sum(len(f[i]) for f in fields) / n_docs) if n_docs else 1.0
            for i in range(len(specs))
        ]

        # Per document: BM25F pseudo-frequency of each term, before the global idf is known.
        pseudo: list[dict[str, float]] = []
        df: dict[str, int] = {}
        for doc_fields in fields:
            tf: dict[str, float] = {}
            for i, terms in enumerate(doc_fields):
                if not terms:
                    continue
                weight, b = specs[i]
                norm = weight / (1.0 - b + b * len(terms) / avg[i])
                for term in terms:
                    tf[term] = tf.get(term, 0.0) + norm
            pseudo.append(tf)
            for term in tf:
                df[term] = df.get(term, 0) + 1

        builders: dict[str, Postings] = {}
        for doc_idx, tf in enumerate(pseudo):
            region = doc_list[doc_idx].region
            for term, value in tf.items():
                idf = math.log(1.0 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
                impact = idf * value * (_K1 + 1.0) / (value + _K1)
                parts = builders.setdefault(term, {})
                part = parts.get(region)
                if part is None:
                    part = parts[region] = (array("I"), array("d"))
                part[0].append(doc_idx)
                part[1].append(impact)

        need_phrases: list[tuple[str, frozenset[str], int]] = []
        for need in needs:
            for phrase in (need.title, *need.synonyms):
                stems = need_phrase_stems(phrase)
                if stems:
                    need_phrases.append((need.id, frozenset(stems), len(stems)))

        return cls(doc_list, builders, df, need_phrases, title_phrases, keyword_phrases)

    # --- query analysis -------------------------------------------------------------------

    def _known(self, stem: str) -> bool:
        return stem in self._vocab

    def _chunk_words(self, chunk: str) -> list[tuple[str, float]]:
        """Words of one whitespace-separated chunk, undoing a wrong keyboard layout."""
        words = split_words(chunk)
        if chunk.isascii() and any(c.isalpha() for c in chunk):
            if any(self._known(stem_word(w)) for w in words if w not in STOP_WORDS):
                return [(w, 1.0) for w in words]
            swapped = split_words(chunk.translate(LAYOUT).replace("ё", "е"))
            content = [w for w in swapped if w not in STOP_WORDS]
            if content and all(self._known(stem_word(w)) for w in content):
                return [(w, LAYOUT_WEIGHT) for w in swapped]
        return [(w, 1.0) for w in words]

    def _find_corrections(self, stem: str) -> Corrections:
        """Closest vocabulary stems for an unknown stem, with their weights."""
        result: Corrections = ()
        length = len(stem)
        if length >= MIN_FUZZY_LEN and stem.isalpha():
            max_edits = 1 if length <= 6 else 2
            candidates: list[str] = []
            for size in range(length - max_edits, length + max_edits + 1):
                candidates.extend(self._vocab_by_len.get(size, ()))
            matches = process.extract(
                stem, candidates, scorer=OSA.distance, score_cutoff=max_edits, limit=None
            )
            if matches:
                best = min(int(m[1]) for m in matches)
                closest = sorted(
                    (m[0] for m in matches if int(m[1]) == best),
                    key=lambda s: (-self._df.get(s, 0), s),
                )[:2]
                weight = FUZZY_WEIGHTS.get(best, min(FUZZY_WEIGHTS.values()))
                result = tuple((s, weight) for s in closest)
            elif length >= 5:
                # An unfinished word: "многод" is the start of "многодетн".
                start = bisect_left(self._sorted_vocab, stem)
                prefixed: list[str] = []
                for s in self._sorted_vocab[start : start + 3]:
                    if s.startswith(stem):
                        prefixed.append(s)
                result = tuple((s, PREFIX_WEIGHT) for s in prefixed)
        return result

    def _analyze_query(self, query: str) -> Query:
        text = normalize_text(query[:MAX_QUERY_CHARS])
        chunks: list[tuple[str, float]] = []
        for chunk in text.split():
            chunks.extend(self._chunk_words(chunk))
            if len(chunks) >= MAX_QUERY_TOKENS:
                break

        words: list[QueryWord] = []
        negations: set[str] = set()
        for word, base in chunks[:MAX_QUERY_TOKENS]:
            if word in STOP_WORDS:
                if word in NEGATIONS:
                    negations.add(word)
                continue
            stem = stem_word(word)
            if self._known(stem) or not stem.isalpha():
                # "6" or "17" alone says little; it still counts inside "ипотека 6" or a phrase.
                alone: list[Alternative] = (
                    [] if stem.isdigit() and len(stem) <= 2 else [((stem, base),)]
                )
                words.append(QueryWord(stem, base, alone))
                continue
            corrections = self._corrections(stem)
            if corrections:
                corrected: list[Alternative] = [((c, base * w),) for c, w in corrections]
                words.append(QueryWord(corrections[0][0], base * corrections[0][1], corrected))

        concepts: list[Concept] = []
        seen: set[Concept] = set()
        # Every stem the query means, with how sure we are of it (before weights are spread
        # over the words of a meaning): what needs are matched against.
        terms: dict[str, float] = {}

        def note(term: str, weight: float) -> None:
            if weight > terms.get(term, 0.0):
                terms[term] = weight

        stems = [w.stem for w in words]
        i = 0
        while i < len(words):
            span = 1
            alternatives: list[Alternative] = list(words[i].alternatives)
            for pattern, meanings in EXPANSION_TABLE.get(stems[i], ()):
                end = i + len(pattern)
                if tuple(stems[i:end]) != pattern:
                    continue
                weight = EXPANSION_WEIGHT * min(w.weight for w in words[i:end])
                if len(pattern) > 1:
                    # The glued phrase is one concept: the words as typed are one alternative.
                    alternatives = [tuple((w.stem, w.weight) for w in words[i:end])]
                    span = len(pattern)
                for meaning in meanings:
                    # A meaning stands for the words it replaces: "юрист" -> "юридическая
                    # помощь" spreads one word's weight over two, so it counts as one word.
                    share = weight * min(1.0, len(pattern) / len(meaning))
                    alternatives.append(tuple((t, share) for t in meaning))
                    for t in meaning:
                        note(t, weight)
                break
            concept = tuple(alternatives)
            if concept and concept not in seen:  # "пособие пособие" counts once
                seen.add(concept)
                concepts.append(concept)
            i += span

        for typed in words:
            for alternative in typed.alternatives:
                for term, weight in alternative:
                    note(term, weight)
            note(typed.stem, typed.weight)  # "6" in "ипотека 6" names a need phrase too
        for negation in negations:
            terms.setdefault(negation, 0.0)  # for need phrases only: no posting has stop words
        return Query(concepts, terms, tuple(stems))

    def _needs_of(self, terms: dict[str, float]) -> list[str]:
        """Needs one of whose phrases the query holds whole; longer phrases count first."""
        # A far-fetched typo guess or an unfinished word does not name a need.
        sure = {t for t, w in terms.items() if w >= NEED_MATCH_MIN_WEIGHT or t in NEGATIONS}
        best: dict[str, int] = {}
        for need_id, stems, size in self._need_phrases:
            if size > best.get(need_id, 0) and stems <= sure:
                best[need_id] = size
        return sorted(best, key=lambda n: (-best[n], self._need_order[n]))

    # --- public API -----------------------------------------------------------------------

    def matched_needs(self, query: str) -> list[str]:
        """Need ids the query names through a need's title or one of its synonyms."""
        return self._needs_of(self._analyze_query(query).terms)

    def search(self, query: str, region: str | None = None, limit: int = 10) -> list[Hit]:
        """Ranked hits, best first, at most `limit`.

        With a region, that region's entries and the federal ones (region None); without one,
        every entry. Never raises on odd input: garbage finds nothing.
        """
        hits: list[Hit] = []
        for score, doc_idx, covered, on_need in self._rank(query, region, limit):
            doc = self._docs[doc_idx]
            hits.append(Hit(doc.id, doc.kind, doc.title, round(score, 3), covered, on_need))
        return hits

    def _rank(
        self, query: str, region: str | None, limit: int
    ) -> list[tuple[float, int, float, bool]]:
        """(score, doc, share of the query's words it holds, on a named need) best first.

        When the query names a measure, an organisation or consultation that does not hold all
        its words comes after the measures."""
        if limit <= 0 or not query:
            return []
        parsed = self._analyze_query(query)
        if not parsed.concepts:
            return []
        concepts = list(parsed.concepts)
        words = len(concepts)
        named = self._needs_of(parsed.terms)
        for need_id in named:
            concepts.append((((_need_term(need_id), NEED_WEIGHT),),))

        parts: tuple[str | None, ...] | None = None
        if region is not None:
            parts = (None, region.strip().upper())
        scores: dict[int, float] = {}
        covered: dict[int, int] = {}  # doc -> how many of the query's words it holds
        for position, concept in enumerate(concepts):
            if len(concept) == 1:  # nothing to choose from: the terms simply add up
                if position >= words:
                    for term, weight in concept[0]:
                        _add_into(scores, self._lists(term, parts), weight)
                    continue
                found: dict[int, float] = {}
                for term, weight in concept[0]:
                    _add_into(found, self._lists(term, parts), weight)
                get = scores.get
                for doc_idx, score in found.items():
                    scores[doc_idx] = get(doc_idx, 0.0) + score
                    covered[doc_idx] = covered.get(doc_idx, 0) + 1
                continue
            best: dict[int, float] = {}
            for alternative in concept:
                if len(alternative) == 1:
                    term, weight = alternative[0]
                    _max_into(best, self._lists(term, parts), weight)
                    continue
                partial: dict[int, float] = {}
                for term, weight in alternative:
                    _add_into(partial, self._lists(term, parts), weight)
                get = best.get
                for doc_idx, score in partial.items():
                    if score > get(doc_idx, 0.0):
                        best[doc_idx] = score
            get = scores.get
            for doc_idx, score in best.items():
                scores[doc_idx] = get(doc_idx, 0.0) + score
                covered[doc_idx] = covered.get(doc_idx, 0) + 1
        if not scores:
            return []

        # nlargest is stable and dict order follows the query, so the pool is deterministic.
        pool = heapq.nlargest(max(limit * 4, 50), scores.items(), key=itemgetter(1))
        bonuses = {doc_idx: self._bonus(doc_idx, parsed.phrase) for doc_idx, _ in pool}
        # "материнский капитал" names a measure: a consultation that shares only the topic
        # does not come before the measures.
        names_measure = any(
            bonus > 1.0 and self._docs[doc_idx].kind == "measure"
            for doc_idx, bonus in bonuses.items()
        )
        ranked = [(bonuses[doc_idx] * score, doc_idx) for doc_idx, score in pool]

        def demoted(doc_idx: int) -> bool:
            return (
                names_measure
                and self._docs[doc_idx].kind != "measure"
                and covered.get(doc_idx, 0) < words
            )

        ranked.sort(
            key=lambda item: (demoted(item[1]), -item[0], self._kind_rank(item[1]), item[1])
        )
        # Ids are unique after build, so the first `limit` entries are already distinct.
        return [
            (
                score,
                doc_idx,
                covered.get(doc_idx, 0) / words,
                any(n in named for n in self._docs[doc_idx].needs),
            )
            for score, doc_idx in ranked[:limit]
        ]

    def _lists(self, term: str, parts: tuple[str | None, ...] | None) -> list[PostingList]:
        """The posting lists of a term for the regions searched."""
        postings = self._postings.get(term)
        if postings is None:
            return []
        if parts is None:
            return list(postings.values())
        return [postings[p] for p in parts if p in postings]

    def _kind_rank(self, doc_idx: int) -> int:
        return _KIND_ORDER.get(self._docs[doc_idx].kind, len(_KIND_ORDER))

    def _bonus(self, doc_idx: int, phrase: Phrase) -> float:
        """Reward a query that names the entry as a whole: its title first, then an alias."""
        if not phrase:
            return 1.0
        title = self._title_phrases[doc_idx]
        wanted = set(phrase)
        if phrase == title:
            return _TITLE_EXACT_BONUS
        if len(wanted) >= 2 and wanted <= set(title):
            return _TITLE_WORDS_BONUS
        keywords = self._keyword_phrases[doc_idx]
        if phrase in keywords:
            return _KEYWORD_EXACT_BONUS
        if len(wanted) >= 2 and any(wanted <= set(k) for k in keywords):
            return _KEYWORD_WORDS_BONUS
        return 1.0

    def closest_needs(self, query: str, limit: int = 3) -> list[str]:
        """Needs nearest to a query, for an answer that found nothing; may be empty."""
        if limit <= 0:
            return []
        parsed = self._analyze_query(query)
        named = self._needs_of(parsed.terms)
        scores: dict[str, float] = {need_id: 2.0 for need_id in named}
        typed = [
            w for w in split_words(normalize_text(query[:MAX_QUERY_CHARS])) if w not in STOP_WORDS
        ]
        query_stems = [
            s for s in dict.fromkeys([*parsed.terms, *map(stem_word, typed)]) if s not in NEGATIONS
        ][:MAX_QUERY_TOKENS]
        if query_stems:
            for need_id, stems, _ in self._need_phrases:
                content = stems - NEGATIONS  # near misses are judged on the meaningful words
                if not content:
                    continue
                total = sum(_similarity(s, query_stems) for s in content) / len(content)
                if total >= 0.5 and total > scores.get(need_id, 0.0):
                    scores[need_id] = total
        if not scores:
            # Fall back to the needs of whatever the search itself finds.
            for rank, (_, doc_idx, _, _) in enumerate(self._rank(query, None, 5)):
                for need_id in self._docs[doc_idx].needs:
                    scores[need_id] = scores.get(need_id, 0.0) + 1.0 / (rank + 1)
        last = len(self._need_order)
        ranked = sorted(scores, key=lambda n: (-scores[n], self._need_order.get(n, last), n))
        return ranked[:limit]


def _similarity(stem: str, query_stems: Sequence[str]) -> float:
    """How well one stem of a need phrase is matched by some stem of the query, 0..1."""
    best = 0.0
    for q in query_stems:
        if q == stem:
            return 1.0
        if len(q) >= MIN_FUZZY_LEN and len(stem) >= MIN_FUZZY_LEN:
            if q.startswith(stem) or stem.startswith(q):
                best = max(best, 0.8)
            else:
                ratio = fuzz.ratio(q, stem, score_cutoff=75) / 100.0
                best = max(best, ratio * 0.8)
    return best
