"""What is searched and what a search returns: documents built from the catalogue, hits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.catalogue.schema import Measure, Need, Organization


@dataclass(frozen=True, slots=True)
class SearchDoc:
    id: str
    kind: str  # "measure" | "organization" | "consultation"
    region: str | None  # None = federal / every region
    title: str
    keywords: tuple[str, ...]  # colloquial names, weighted high
    needs: tuple[str, ...]  # need ids
    body: str  # summary / description, weighted low


@dataclass(frozen=True, slots=True)
class NeedTerms:
    id: str
    title: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    kind: str
    title: str
    score: float  # higher is better, rounded to 3 decimals
    # The share of the query's words (or their corrections or meanings) this entry holds, and
    # whether it is tagged with a need the query names ("нужен психолог" -> psych_help).
    covered: float = 0.0
    on_need: bool = False

    @property
    def complete(self) -> bool:
        return self.covered >= 1.0

    @property
    def exact(self) -> bool:
        """Answers what was asked, not only something near it: most of the query's words, or
        some of them on a topic the query names. "компенсация родительской платы за детский
        сад" is not answered exactly by «Награды многодетным» (one word of four)."""
        return self.covered >= EXACT_COVERAGE or (
            self.on_need and self.covered >= EXACT_COVERAGE_ON_NEED
        )


# How much of the query a hit must hold to count as answering it (see Hit.exact).
EXACT_COVERAGE = 0.66
EXACT_COVERAGE_ON_NEED = 0.33


# --- from the catalogue -------------------------------------------------------------------


def build_docs(
    measures: Iterable[Measure], organizations: Iterable[Organization]
) -> list[SearchDoc]:
    """Catalogue entries as search documents: measures, organisations, their consultations."""
    docs = [
        SearchDoc(
            id=m.id,
            kind="measure",
            region=m.region,
            title=m.title,
            keywords=tuple(m.keywords),
            needs=tuple(m.needs),
            body=m.summary,
        )
        for m in measures
    ]
    for org in organizations:
        docs.append(
            SearchDoc(
                id=org.id,
                kind="organization",
                region=org.region,
                title=org.name,
                keywords=tuple(org.keywords),
                needs=tuple(org.needs),
                body=org.description,
            )
        )
        docs.extend(
            SearchDoc(
                id=c.id,
                kind="consultation",
                region=org.region,
                title=f"{c.title} — {org.name}",
                keywords=(),
                needs=(c.need,),
                body=c.description,
            )
            for c in org.consultations
        )
    return docs


def build_need_terms(needs: Iterable[Need]) -> list[NeedTerms]:
    return [NeedTerms(id=n.id, title=n.title, synonyms=tuple(n.synonyms)) for n in needs]
