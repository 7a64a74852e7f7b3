"""Reads about consultations: which are bookable, their free slots, a family's bookings.

A consultation is bookable in a region when it is in the active catalogue and its organisation
has someone to receive a booking (an active, unpaused volunteer); every booking button is
re-checked here against the DB, never trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.catalogue.active import CatalogueView
from db import models
from db.enums import OPEN_STATUSES, ReferralKind, Role

# A slot starting sooner than this is no longer offered: the organisation needs time to accept.
BOOKING_LEAD = dt.timedelta(hours=1)


@dataclass(frozen=True)
class BookedSlot:
    """One of a family's upcoming bookings."""

    referral: models.Referral
    slot: models.ConsultationSlot


def _region_consultations(
    view: CatalogueView,
    region_code: str,
    *,
    need_id: str | None = None,
    consultation_id: str | None = None,
) -> dict[str, tuple[schema.Organization, schema.Consultation]]:
    return {
        cid: (org, consultation)
        for cid, (org, consultation) in view.consultations.items()
        if org.region == region_code
        and (need_id is None or consultation.need == need_id)
        and (consultation_id is None or cid == consultation_id)
    }


async def _staffed(session: AsyncSession, organization_ids: Iterable[str]) -> set[str]:
    """Organisations with someone to receive a booking: an active, unpaused volunteer."""
    ids = list(set(organization_ids))
    if not ids:
        return set()
    rows = await session.scalars(
        select(models.Membership.organization_id)
        .where(
            models.Membership.organization_id.in_(ids),
            models.Membership.active,
            models.Membership.paused.is_(False),
            models.Membership.role.in_([Role.VOLUNTEER, Role.COORDINATOR]),
        )
        .distinct()
    )
    return {org_id for org_id in rows if org_id is not None}


async def _bookable(
    session: AsyncSession,
    view: CatalogueView,
    region_code: str,
    *,
    need_id: str | None = None,
    consultation_id: str | None = None,
) -> list[str]:
    found = _region_consultations(
        view, region_code, need_id=need_id, consultation_id=consultation_id
    )
    staffed = await _staffed(session, (org.id for org, _ in found.values()))
    return [cid for cid, (org, _) in found.items() if org.id in staffed]


async def open_slots(
    session: AsyncSession,
    view: CatalogueView,
    *,
    region_code: str,
    need_id: str | None = None,
    consultation_id: str | None = None,
    now: dt.datetime,
    limit: int = 50,
    offset: int = 0,
) -> list[models.ConsultationSlot]:
    """Free future slots of the region's consultations (active, staffed), soonest first."""
    ids = await _bookable(
        session, view, region_code, need_id=need_id, consultation_id=consultation_id
    )
    if not ids:
        return []
    return list(
        await session.scalars(
            select(models.ConsultationSlot)
            .where(
                models.ConsultationSlot.consultation_id.in_(ids),
                models.ConsultationSlot.referral_id.is_(None),
                models.ConsultationSlot.starts_at > now + BOOKING_LEAD,
            )
            .order_by(models.ConsultationSlot.starts_at, models.ConsultationSlot.id)
            .offset(offset)
            .limit(limit)
        )
    )


async def available_consultations(
    session: AsyncSession,
    view: CatalogueView,
    *,
    region_code: str,
    now: dt.datetime,
    need_id: str | None = None,
) -> list[str]:
    """Consultations of the region that have at least one free future slot, in catalogue order."""
    ids = await _bookable(session, view, region_code, need_id=need_id)
    if not ids:
        return []
    with_slots = set(
        await session.scalars(
            select(models.ConsultationSlot.consultation_id)
            .where(
                models.ConsultationSlot.consultation_id.in_(ids),
                models.ConsultationSlot.referral_id.is_(None),
                models.ConsultationSlot.starts_at > now + BOOKING_LEAD,
            )
            .distinct()
        )
    )
    return [cid for cid in ids if cid in with_slots]


async def slot_is_open(
    session: AsyncSession, view: CatalogueView, slot_id: int, *, region_code: str, now: dt.datetime
) -> models.ConsultationSlot | None:
    """The slot if a family of this region may still book it; re-read from the DB."""
    slot = await session.get(models.ConsultationSlot, slot_id, populate_existing=True)
    if slot is None or slot.referral_id is not None or slot.starts_at <= now + BOOKING_LEAD:
        return None
    if slot.consultation_id not in await _bookable(
        session, view, region_code, consultation_id=slot.consultation_id
    ):
        return None
    return slot


async def upcoming_bookings(
    session: AsyncSession, family_user_id: int, now: dt.datetime
) -> list[BookedSlot]:
    rows = await session.execute(
        select(models.Referral, models.ConsultationSlot)
        .join(
            models.ConsultationSlot,
            models.ConsultationSlot.referral_id == models.Referral.id,
        )
        .where(
            models.Referral.family_user_id == family_user_id,
            models.Referral.kind == ReferralKind.CONSULTATION,
            models.Referral.status.in_(list(OPEN_STATUSES)),
            models.ConsultationSlot.starts_at > now,
        )
        .order_by(models.ConsultationSlot.starts_at)
    )
    return [BookedSlot(referral, slot) for referral, slot in rows.all()]


async def family_booking(
    session: AsyncSession, family: models.User, referral_id: int
) -> BookedSlot | None:
    """This family's open booking with that number, or None (someone else's, closed, gone)."""
    referral = await session.get(models.Referral, referral_id, populate_existing=True)
    if (
        referral is None
        or referral.family_user_id != family.id
        or referral.kind != ReferralKind.CONSULTATION
        or referral.status not in OPEN_STATUSES
        or referral.consultation_slot_id is None
    ):
        return None
    slot = await session.get(
        models.ConsultationSlot, referral.consultation_slot_id, populate_existing=True
    )
    if slot is None or slot.referral_id != referral.id:
        return None
    return BookedSlot(referral, slot)


async def upcoming_counts(
    session: AsyncSession, consultation_id: str, now: dt.datetime
) -> tuple[int, int]:
    """(free, booked) future slots of a consultation: what a coordinator has published."""
    rows = await session.scalars(
        select(models.ConsultationSlot.referral_id).where(
            models.ConsultationSlot.consultation_id == consultation_id,
            models.ConsultationSlot.starts_at > now,
        )
    )
    referral_ids = list(rows)
    free = sum(1 for rid in referral_ids if rid is None)
    return free, len(referral_ids) - free


async def coordinated_organizations(session: AsyncSession, user_id: int) -> list[str]:
    """Organisations where this person is an active coordinator (who may publish slots)."""
    rows = await session.scalars(
        select(models.Membership.organization_id)
        .where(
            models.Membership.user_id == user_id,
            models.Membership.active,
            models.Membership.role == Role.COORDINATOR,
        )
        .distinct()
    )
    return sorted(org_id for org_id in rows if org_id is not None)
