"""Writing a region's catalogue entries the way the loader does: validated, hashed, linked.

Managers change the catalogue from Telegram (an organisation's needs, a spreadsheet import, a
restore). Every change goes through the pydantic schema and is written with the loader's own
row builders, so the content hash a later `content load` computes for the same entry is equal
and nothing is reported as changed twice. The caller commits, then refreshes the in-memory
catalogue (`CatalogueHolder.refresh()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.catalogue.files import Catalogue
from core.catalogue.loader import (
    Row,
    consultation_rows,
    content_hash,
    links_key,
    measure_rows,
    organization_rows,
    replace_links,
)
from db import models

MEASURES = "measures"
ORGANIZATIONS = "organizations"
CONSULTATIONS = "consultations"
KINDS = (MEASURES, ORGANIZATIONS, CONSULTATIONS)


@dataclass(frozen=True)
class Entry:
    """One catalogue entry as stored: the validated dump, its active flag and (consultations
    only) the organisation it belongs to."""

    kind: str
    id: str
    data: dict[str, Any]
    active: bool = True
    organization: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "active": self.active, "data": self.data}
        if self.organization is not None:
            out["organization"] = self.organization
        return out


Entries = dict[str, dict[str, Entry]]
"""kind -> id -> entry; a kind that is absent is left alone when applied."""


@dataclass
class ApplySummary:
    added: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    deactivated: dict[str, int] = field(default_factory=dict)

    def _bump(self, counter: dict[str, int], kind: str) -> None:
        counter[kind] = counter.get(kind, 0) + 1

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())

    @property
    def total_deactivated(self) -> int:
        return sum(self.deactivated.values())

    @property
    def touched(self) -> bool:
        return bool(self.total_added or self.total_changed or self.total_deactivated)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": dict(self.added),
            "changed": dict(self.changed),
            "deactivated": dict(self.deactivated),
        }


def dump(entry: BaseModel) -> dict[str, Any]:
    """The stored form of a validated entry (the loader's `_dump`)."""
    return entry.model_dump(mode="json", exclude_none=True)


def snapshot_json(entries: Entries) -> dict[str, Any]:
    return {
        kind: [entries[kind][key].as_json() for key in sorted(entries[kind])]
        for kind in KINDS
        if kind in entries
    }


def entries_from_json(payload: Mapping[str, Any]) -> Entries:
    out: Entries = {}
    for kind in KINDS:
        if kind not in payload:
            continue
        out[kind] = {
            item["id"]: Entry(
                kind,
                item["id"],
                dict(item["data"]),
                bool(item.get("active", True)),
                item.get("organization"),
            )
            for item in payload[kind]
        }
    return out


async def region_entries(session: AsyncSession, region_code: str) -> Entries:
    """Every measure, organisation and consultation of a region, active or not."""
    measures = await session.scalars(
        select(models.Measure).where(models.Measure.region_code == region_code)
    )
    orgs = await session.scalars(
        select(models.Organization).where(models.Organization.region_code == region_code)
    )
    consultations = await session.scalars(
        select(models.Consultation)
        .join(models.Organization, models.Organization.id == models.Consultation.organization_id)
        .where(models.Organization.region_code == region_code)
    )
    return {
        MEASURES: {m.id: Entry(MEASURES, m.id, dict(m.data), m.active) for m in measures},
        ORGANIZATIONS: {o.id: Entry(ORGANIZATIONS, o.id, dict(o.data), o.active) for o in orgs},
        CONSULTATIONS: {
            c.id: Entry(CONSULTATIONS, c.id, dict(c.data), c.active, c.organization_id)
            for c in consultations
        },
    }


def _row(entry: Entry) -> Row:
    """The loader's row (columns and link rows) for one entry."""
    if entry.kind == MEASURES:
        return measure_rows(Catalogue(measures=[schema.Measure.model_validate(entry.data)]))[0]
    if entry.kind == ORGANIZATIONS:
        org = schema.Organization.model_validate({**entry.data, "consultations": []})
        return organization_rows(Catalogue(organizations=[org]))[0]
    consultation = schema.Consultation.model_validate(entry.data)
    # Only the id and the consultation are read from the holder, so it is not validated.
    fields: dict[str, Any] = {"id": entry.organization or "", "consultations": [consultation]}
    holder = schema.Organization.model_construct(**fields)
    return consultation_rows(Catalogue(organizations=[holder]))[0]


_MODELS: dict[str, type[Any]] = {
    MEASURES: models.Measure,
    ORGANIZATIONS: models.Organization,
    CONSULTATIONS: models.Consultation,
}


async def write_entry(
    session: AsyncSession, entry: Entry, summary: ApplySummary | None = None
) -> bool:
    """Insert or update one entry (and its link rows); False if it was already like that."""
    model = _MODELS[entry.kind]
    row = _row(entry)
    digest = content_hash({"columns": row.columns, "links": links_key(row.links)})
    current = await session.get(model, entry.id)
    summary = summary if summary is not None else ApplySummary()
    if current is None:
        extra: dict[str, Any] = {}
        if entry.kind == MEASURES:
            last = await session.scalar(select(func.max(models.Measure.position)))
            extra["position"] = (last or 0) + 1
        session.add(
            model(id=entry.id, **row.columns, **extra, content_hash=digest, active=entry.active)
        )
        summary._bump(summary.added, entry.kind)
    elif current.content_hash != digest or current.active != entry.active:
        if current.active and not entry.active:
            summary._bump(summary.deactivated, entry.kind)
        else:
            summary._bump(summary.changed, entry.kind)
        if current.content_hash == digest:
            current.active = entry.active
            await session.flush()
            return True
        for column, value in row.columns.items():
            setattr(current, column, value)
        current.content_hash = digest
        current.active = entry.active
    else:
        return False
    await session.flush()
    await replace_links(session, row)
    return True


async def deactivate(
    session: AsyncSession, kind: str, entry_id: str, summary: ApplySummary | None = None
) -> bool:
    current = await session.get(_MODELS[kind], entry_id)
    if current is None or not current.active:
        return False
    current.active = False
    if summary is not None:
        summary._bump(summary.deactivated, kind)
    await session.flush()
    return True


async def apply_entries(
    session: AsyncSession, region_code: str, desired: Entries, current: Entries | None = None
) -> ApplySummary:
    """Make the region's entries of every kind in `desired` exactly that list.

    Entries of the region missing from a kind's list are deactivated (never deleted: referrals
    and history point at them). The caller has checked that no id belongs to another region.
    """
    current = current if current is not None else await region_entries(session, region_code)
    summary = ApplySummary()
    # Organisations first: consultations and measures may point at a new one.
    for kind in (ORGANIZATIONS, CONSULTATIONS, MEASURES):
        if kind not in desired:
            continue
        for entry in _ordered(desired[kind].values()):
            await write_entry(session, entry, summary)
        for entry_id in sorted(set(current.get(kind, {})) - set(desired[kind])):
            await deactivate(session, kind, entry_id, summary)
    return summary


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: e.id)
