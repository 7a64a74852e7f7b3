"""A region's organisations for its manager: the list with their load, one organisation's
record, and edits checked by the catalogue schema before they are written.

Every change takes the region it was asked for and refuses an organisation of another one,
so a forged button cannot reach across regions.
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record_audit
from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.catalogue.edit import ORGANIZATIONS, Entry, dump, write_entry
from core.catalogue.sheet import MAX_ORG_ID, region_today
from core.clock import Clock
from core.referrals.queries import STAFF_ROLES
from db import models
from db.enums import ReferralStatus

LOAD_STATUSES = (ReferralStatus.OFFERED, ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS)
CONTACT_FIELDS = ("phone", "email", "website", "address", "hours")


@dataclass(frozen=True)
class OrgRow:
    id: str
    name: str
    name_en: str
    active: bool
    capacity: int
    data: dict[str, Any]


@dataclass(frozen=True)
class OrgRecord:
    """Open load and response record: what routing looks at, as the manager sees it."""

    open_load: int = 0
    offers: int = 0
    accepted: int = 0
    median_minutes_to_accept: float | None = None
    members: int = 0


async def region_organizations(session: AsyncSession, region_code: str) -> list[OrgRow]:
    rows = await session.scalars(
        select(models.Organization)
        .where(models.Organization.region_code == region_code)
        .order_by(models.Organization.active.desc(), models.Organization.name)
    )
    return [
        OrgRow(o.id, o.name, str(o.data.get("name_en", o.name)), o.active, o.capacity, o.data)
        for o in rows
    ]


async def organization_in(
    session: AsyncSession, org_id: str, region_code: str | None = None
) -> models.Organization | None:
    """The organisation, if it exists (and belongs to `region_code` when given)."""
    org = await session.get(models.Organization, org_id)
    if org is None or (region_code is not None and org.region_code != region_code):
        return None
    return org


async def org_records(session: AsyncSession, org_ids: Sequence[str]) -> dict[str, OrgRecord]:
    if not org_ids:
        return {}
    ids = list(org_ids)
    loads = dict(
        (
            await session.execute(
                select(models.Referral.organization_id, func.count())
                .where(
                    models.Referral.organization_id.in_(ids),
                    models.Referral.status.in_(list(LOAD_STATUSES)),
                )
                .group_by(models.Referral.organization_id)
            )
        ).all()
    )
    offers = {
        org_id: (total, accepted)
        for org_id, total, accepted in (
            await session.execute(
                select(
                    models.ReferralOffer.organization_id,
                    func.count(),
                    func.count().filter(models.ReferralOffer.outcome == "accepted"),
                )
                .where(models.ReferralOffer.organization_id.in_(ids))
                .group_by(models.ReferralOffer.organization_id)
            )
        ).all()
    }
    waits: dict[str, list[float]] = {}
    for org_id, offered_at, outcome_at in await session.execute(
        select(
            models.ReferralOffer.organization_id,
            models.ReferralOffer.offered_at,
            models.ReferralOffer.outcome_at,
        ).where(
            models.ReferralOffer.organization_id.in_(ids),
            models.ReferralOffer.outcome == "accepted",
            models.ReferralOffer.outcome_at.is_not(None),
        )
    ):
        if outcome_at is not None:
            wait = (outcome_at - offered_at).total_seconds() / 60
            waits.setdefault(org_id, []).append(wait)
    members = dict(
        (
            await session.execute(
                select(models.Membership.organization_id, func.count())
                .where(
                    models.Membership.organization_id.in_(ids),
                    models.Membership.active,
                    models.Membership.role.in_(list(STAFF_ROLES)),
                )
                .group_by(models.Membership.organization_id)
            )
        ).all()
    )
    out = {}
    for org_id in ids:
        total, accepted = offers.get(org_id, (0, 0))
        minutes = waits.get(org_id)
        out[org_id] = OrgRecord(
            open_load=int(loads.get(org_id, 0)),
            offers=int(total),
            accepted=int(accepted),
            median_minutes_to_accept=round(statistics.median(minutes), 1) if minutes else None,
            members=int(members.get(org_id, 0)),
        )
    return out


@asynccontextmanager
async def _ending_on_refusal(session: AsyncSession) -> AsyncIterator[None]:
    """A use case owns its transaction, also when it refuses: the caller only shows the error."""
    try:
        yield
    except EditError:
        await session.rollback()
        raise


class EditError(Exception):
    """A change the schema or the cross-checks refuse; `code` picks the text."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def _validated(data: dict[str, Any], view: CatalogueView, region_code: str) -> schema.Organization:
    try:
        org = schema.Organization.model_validate({**data, "consultations": []})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise EditError("invalid", f"{field}: {first['msg']}") from error
    if org.region != region_code:
        raise EditError("forbidden")
    unknown = [n for n in org.needs if n not in view.needs]
    if unknown:
        raise EditError("invalid", f"needs: unknown {', '.join(unknown)}")
    if org.municipalities != ["all"]:
        region = view.regions.get(region_code)
        known = {m.id for m in region.municipalities} if region else set()
        bad = [m for m in org.municipalities if m not in known]
        if bad or "all" in org.municipalities:
            raise EditError("invalid", f"municipalities: {', '.join(bad) or 'all'}")
    return org


async def update_organization(
    session: AsyncSession,
    clock: Clock,
    *,
    org_id: str,
    region_code: str,
    changes: dict[str, Any],
    view: CatalogueView,
    user_id: int | None,
    active: bool | None = None,
) -> schema.Organization:
    """Apply `changes` (top-level fields; None removes one) through the schema and commit.

    The caller refreshes the in-memory catalogue afterwards.
    """
    async with _ending_on_refusal(session):
        row = await organization_in(session, org_id, region_code)
        if row is None:
            raise EditError("forbidden")
        data = {**row.data}
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        org = _validated(data, view, region_code)
        stored = dump(org)
        stored.pop("consultations", None)
        await write_entry(
            session,
            Entry(ORGANIZATIONS, org.id, stored, row.active if active is None else active),
        )
        fields = sorted(changes) + (["active"] if active is not None else [])
        record_audit(
            session, clock, user_id, "org_edit", {"organization": org_id, "fields": fields}
        )
        await session.commit()
        return org


def toggled_needs(current: Sequence[str], need_id: str, view: CatalogueView) -> list[str]:
    chosen = set(current) ^ {need_id}
    return [n for n in view.needs if n in chosen]


def toggled_municipalities(
    current: Sequence[str], municipality_id: str, view: CatalogueView, region_code: str
) -> list[str]:
    """ "all" is a choice of its own: picking a municipality leaves "all" and vice versa."""
    if municipality_id == "all":
        return ["all"]
    chosen = set() if list(current) == ["all"] else set(current)
    chosen ^= {municipality_id}
    order = [m.id for m in view.regions[region_code].municipalities]
    return [m for m in order if m in chosen]


def contacts_with(current: dict[str, Any], field: str, value: str | None) -> dict[str, Any]:
    if field not in CONTACT_FIELDS:
        raise EditError("invalid", field)
    contacts = dict(current.get("contacts") or {})
    if value:
        contacts[field] = value
    else:
        contacts.pop(field, None)
    return contacts


async def add_organization(
    session: AsyncSession,
    clock: Clock,
    *,
    region_code: str,
    name: str,
    need_id: str,
    view: CatalogueView,
    user_id: int | None,
) -> schema.Organization:
    """A minimal entry (the rest is edited afterwards or through the spreadsheet)."""
    prefix = region_code.split("-")[-1].lower()
    org_id = f"{prefix}-org-{secrets.token_hex(3)}"
    assert len(org_id) <= MAX_ORG_ID
    data = {
        "id": org_id,
        "name": name,
        "name_en": name,
        "kind": schema.OrgKind.NGO.value,
        "region": region_code,
        "description": name,
        "description_en": name,
        "needs": [need_id],
        "municipalities": ["all"],
        "capacity": 10,
        "verified_on": region_today(view, region_code, clock).isoformat(),
    }
    async with _ending_on_refusal(session):
        org = _validated(data, view, region_code)
        stored = dump(org)
        stored.pop("consultations", None)
        await write_entry(session, Entry(ORGANIZATIONS, org.id, stored, True))
        record_audit(session, clock, user_id, "org_add", {"organization": org.id})
        await session.commit()
        return org
