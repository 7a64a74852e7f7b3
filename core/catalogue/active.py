"""The active catalogue held in memory: read once from the DB, swapped after a reload.

Families read the catalogue on every tap; keeping it (and its search index) in memory keeps
those taps off the database entirely.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.catalogue import schema
from core.search import SearchIndex, build_docs, build_need_terms
from db import models


@dataclass(frozen=True)
class CatalogueView:
    regions: dict[str, schema.Region]
    needs: dict[str, schema.Need]
    measures: dict[str, schema.Measure]
    organizations: dict[str, schema.Organization]
    index: SearchIndex
    consultations: dict[str, tuple[schema.Organization, schema.Consultation]] = field(
        default_factory=dict
    )
    # Whatever is derived from this catalogue and asked for on every tap (lookups by id, a
    # region's lists, ready-made keyboards): computed once per view, dropped with it on reload.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def municipality(self, municipality_id: str | None) -> schema.Municipality | None:
        if municipality_id is None:
            return None
        index = self.memo.get("municipalities")
        if index is None:
            index = {}
            for region in self.regions.values():
                for mun in region.municipalities:
                    index.setdefault(mun.id, mun)
            self.memo["municipalities"] = index
        found: schema.Municipality | None = index.get(municipality_id)
        return found

    def measures_for_region(self, region: str | None) -> list[schema.Measure]:
        key = ("measures_for_region", region)
        cached = self.memo.get(key)
        if cached is None:
            cached = self.memo[key] = tuple(
                m for m in self.measures.values() if m.region is None or m.region == region
            )
        return list(cached)

    def organizations_for_region(self, region: str | None) -> list[schema.Organization]:
        key = ("organizations_for_region", region)
        cached = self.memo.get(key)
        if cached is None:
            cached = self.memo[key] = tuple(
                o for o in self.organizations.values() if o.region == region
            )
        return list(cached)


# How many of the largest towns follow the regional centre before the alphabetical rest.
LARGEST_TOWNS_FIRST = 5
_TOWN_KINDS = frozenset({"city_district", "city"})


def _alphabetical(mun: schema.Municipality) -> str:
    # «г. Кирсанов» is read as «Кирсанов»: abbreviations of the kind do not sort the list.
    words = mun.name.split()
    while len(words) > 1 and (words[0].endswith(".") or words[0] in ("рп", "пос", "с")):
        words = words[1:]
    return " ".join(words).casefold().replace("ё", "е")


def listing_order(region: schema.Region) -> schema.Region:
    """Municipalities as people look for them: the regional centre, the largest towns, then
    the rest alphabetically (г. Тамбов first, not on the third page after the okrugs)."""
    rest = sorted(region.municipalities, key=_alphabetical)
    first = [m for m in rest if m.id == region.capital]
    towns = sorted(
        (m for m in rest if m.kind in _TOWN_KINDS and m.population and m not in first),
        key=lambda m: -(m.population or 0),
    )[:LARGEST_TOWNS_FIRST]
    first += towns
    ordered = first + [m for m in rest if m not in first]
    return region.model_copy(update={"municipalities": ordered})


async def read_view(session: AsyncSession) -> CatalogueView:
    municipalities: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for mun in await session.scalars(
        select(models.Municipality)
        .where(models.Municipality.active)
        .order_by(models.Municipality.name)
    ):
        municipalities[mun.region_code].append(mun.data)
    regions = {
        r.code: listing_order(
            schema.Region.model_validate({**r.data, "municipalities": municipalities[r.code]})
        )
        for r in await session.scalars(
            select(models.Region).where(models.Region.active).order_by(models.Region.name)
        )
        if municipalities[r.code]
    }
    needs = {
        n.id: schema.Need.model_validate(n.data)
        for n in await session.scalars(
            select(models.Need).where(models.Need.active).order_by(models.Need.position)
        )
    }
    consultations_by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in await session.scalars(
        select(models.Consultation)
        .where(models.Consultation.active)
        .order_by(models.Consultation.id)
    ):
        consultations_by_org[c.organization_id].append(c.data)
    organizations = {
        o.id: schema.Organization.model_validate(
            {**o.data, "consultations": consultations_by_org[o.id]}
        )
        for o in await session.scalars(
            select(models.Organization)
            .where(models.Organization.active)
            .order_by(models.Organization.name)
        )
    }
    measures = {
        m.id: schema.Measure.model_validate(m.data)
        for m in await session.scalars(
            select(models.Measure).where(models.Measure.active).order_by(models.Measure.position)
        )
    }
    index = SearchIndex.build(
        build_docs(measures.values(), organizations.values()), build_need_terms(needs.values())
    )
    consultations = {c.id: (org, c) for org in organizations.values() for c in org.consultations}
    return CatalogueView(regions, needs, measures, organizations, index, consultations)


class CatalogueHolder:
    """Shared by handlers, CLI and scheduler; `refresh()` swaps in a new view atomically."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._view: CatalogueView | None = None

    @property
    def view(self) -> CatalogueView:
        if self._view is None:
            raise RuntimeError("catalogue not loaded yet; call refresh() at start-up")
        return self._view

    async def refresh(self) -> CatalogueView:
        async with self._session_factory() as session:
            self._view = await read_view(session)
        return self._view
