"""Upsert a validated catalogue into the DB: idempotent, and removal means deactivation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.files import Catalogue
from db import models


@dataclass
class LoadReport:
    added: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    deactivated: dict[str, int] = field(default_factory=dict)

    @property
    def touched(self) -> bool:
        return any((*self.added.values(), *self.changed.values(), *self.deactivated.values()))

    def summary(self) -> str:
        kinds = sorted(set(self.added) | set(self.changed) | set(self.deactivated))
        parts = [
            f"{kind}: +{self.added.get(kind, 0)} ~{self.changed.get(kind, 0)} "
            f"-{self.deactivated.get(kind, 0)}"
            for kind in kinds
        ]
        return "; ".join(parts) if parts else "nothing changed"


def content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _dump(entry: BaseModel) -> dict[str, Any]:
    return entry.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Row:
    """One catalogue row to upsert: its columns and the link rows that belong to it."""

    id: str
    columns: dict[str, Any]
    links: dict[type[Any], list[dict[str, Any]]] = field(default_factory=dict)
    # Kept up to date but not part of the content hash: an entry moving in the list (because
    # another was removed) is not a change of that entry.
    position: int | None = None


async def load_catalogue(
    session: AsyncSession, catalogue: Catalogue, *, with_demo: bool = False
) -> LoadReport:
    """Write `catalogue` to the DB. The caller commits; a second run changes nothing.

    Entries marked `demo: true` are fictional: they are written only `with_demo` (the terminal
    demo, tests); otherwise they are left out, so demo rows already in the DB are deactivated.
    """
    if not with_demo:
        catalogue = catalogue.without_demo()
    report = LoadReport()
    await _upsert(
        session, report, "regions", models.Region, models.Region.code, region_rows(catalogue)
    )
    await _upsert(
        session,
        report,
        "municipalities",
        models.Municipality,
        models.Municipality.id,
        municipality_rows(catalogue),
    )
    await _upsert(session, report, "needs", models.Need, models.Need.id, need_rows(catalogue))
    await _upsert(
        session,
        report,
        "organizations",
        models.Organization,
        models.Organization.id,
        organization_rows(catalogue),
    )
    await _upsert(
        session,
        report,
        "consultations",
        models.Consultation,
        models.Consultation.id,
        consultation_rows(catalogue),
    )
    await _upsert(
        session, report, "measures", models.Measure, models.Measure.id, measure_rows(catalogue)
    )
    return report


def region_rows(cat: Catalogue) -> list[Row]:
    rows = []
    for region in cat.regions:
        data = _dump(region)
        data.pop("municipalities")
        rows.append(
            Row(region.code, {"name": region.name, "timezone": region.timezone, "data": data})
        )
    return rows


def municipality_rows(cat: Catalogue) -> list[Row]:
    return [
        Row(m.id, {"region_code": r.code, "name": m.name, "data": _dump(m)})
        for r in cat.regions
        for m in r.municipalities
    ]


def need_rows(cat: Catalogue) -> list[Row]:
    return [
        Row(n.id, {"title": n.title, "data": _dump(n)}, position=i)
        for i, n in enumerate(cat.needs)
    ]


def organization_rows(cat: Catalogue) -> list[Row]:
    rows = []
    for org in cat.organizations:
        data = _dump(org)
        data.pop("consultations", None)
        serves_all = org.municipalities == ["all"]
        rows.append(
            Row(
                org.id,
                {
                    "region_code": org.region,
                    "name": org.name,
                    "kind": org.kind.value,
                    "capacity": org.capacity,
                    "serves_all_municipalities": serves_all,
                    "verified_on": org.verified_on,
                    "demo": org.demo,
                    "data": data,
                },
                {
                    models.OrganizationNeed: [{"need_id": n} for n in dict.fromkeys(org.needs)],
                    models.OrganizationMunicipality: (
                        []
                        if serves_all
                        else [{"municipality_id": m} for m in dict.fromkeys(org.municipalities)]
                    ),
                },
            )
        )
    return rows


def consultation_rows(cat: Catalogue) -> list[Row]:
    return [
        Row(
            c.id,
            {
                "organization_id": org.id,
                "need_id": c.need,
                "format": c.format.value,
                "data": _dump(c),
            },
        )
        for org in cat.organizations
        for c in org.consultations
    ]


def measure_rows(cat: Catalogue) -> list[Row]:
    return [
        Row(
            m.id,
            {
                "level": m.level.value,
                "region_code": m.region,
                "title": m.title,
                "source_date": m.source_date,
                "checked_on": m.checked_on,
                "data": _dump(m),
            },
            {models.MeasureNeed: [{"need_id": n} for n in dict.fromkeys(m.needs)]},
            position=i,
        )
        for i, m in enumerate(cat.measures)
    ]


_LINK_OWNER = {
    models.OrganizationNeed: "organization_id",
    models.OrganizationMunicipality: "organization_id",
    models.MeasureNeed: "measure_id",
}


async def _upsert(
    session: AsyncSession,
    report: LoadReport,
    kind: str,
    model: type[Any],
    key: Any,
    rows: Sequence[Row],
) -> None:
    existing = {getattr(obj, key.key): obj for obj in (await session.scalars(select(model))).all()}
    seen: set[str] = set()
    for row in rows:
        seen.add(row.id)
        digest = content_hash({"columns": row.columns, "links": links_key(row.links)})
        current = existing.get(row.id)
        if current is None:
            session.add(
                model(**{key.key: row.id}, **row.columns, content_hash=digest, active=True)
            )
            report.added[kind] = report.added.get(kind, 0) + 1
        elif current.content_hash != digest or not current.active:
            for column, value in row.columns.items():
                setattr(current, column, value)
            current.content_hash = digest
            current.active = True
            report.changed[kind] = report.changed.get(kind, 0) + 1
        else:
            continue
        await session.flush()
        await replace_links(session, row)
    for entry_id, obj in existing.items():
        if entry_id not in seen and obj.active:
            obj.active = False
            report.deactivated[kind] = report.deactivated.get(kind, 0) + 1
    await session.flush()


def links_key(links: dict[type[Any], list[dict[str, Any]]]) -> dict[str, Any]:
    return {model.__tablename__: values for model, values in links.items()}


async def replace_links(session: AsyncSession, row: Row) -> None:
    for link_model, values in row.links.items():
        owner = _LINK_OWNER[link_model]
        await session.execute(delete(link_model).where(getattr(link_model, owner) == row.id))
        session.add_all(link_model(**{owner: row.id}, **value) for value in values)
    await session.flush()
