"""Booking, cancelling and moving a consultation: a family's side of a slot.

A booking is a referral of kind `consultation` offered straight to the organisation, linked to
its slot both ways (`consultation_slots.referral_id`, `referrals.consultation_slot_id`). A slot
is claimed by a conditional UPDATE (`referral_id IS NULL`), so of two families pressing the same
time only one gets it; the referral, the slot's link and the reminders commit together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.consultations import notices
from core.consultations.queries import BOOKING_LEAD, family_booking, upcoming_bookings
from core.consultations.times import region_timezone
from core.referrals import effects, transitions
from core.referrals.context import Context, Outcome
from core.referrals.queries import org_staff
from core.referrals.slot_release import drop_reminders, release
from core.texts import Texts
from db import models
from db.enums import OPEN_STATUSES, EventAction, ReferralKind

RESCHEDULED = "rescheduled"  # the reason on the DETAILS_ADDED event of a moved booking


class BookingOutcome(StrEnum):
    OK = "ok"
    TAKEN = "taken"  # someone else booked the slot, or changed the booking first
    GONE = "gone"  # the slot is past or too soon, or its consultation is no longer offered
    DUPLICATE = "duplicate"  # this family already has an upcoming booking of this consultation
    FORBIDDEN = "forbidden"  # not this family's booking, or a slot outside their region
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Booking:
    outcome: BookingOutcome
    referral_id: int | None = None
    starts_at: dt.datetime | None = None
    consultation_id: str | None = None


@contextmanager
def _on_create(session: AsyncSession, finish: Callable[[models.Referral], None]) -> Iterator[None]:
    """Run `finish(referral)` inside the transaction that `transitions.create` commits.

    `create` commits by itself; linking the slot and queueing the reminders needs the new
    referral's id, and must land in the same commit so a crash cannot leave a booking without
    its slot or its reminders. The new referral is caught when it is flushed; `finish` only
    changes objects in memory, which the commit then flushes.
    """
    sync = session.sync_session
    created: list[models.Referral] = []

    def after_flush(flushed: Session, _context: Any) -> None:
        created.extend(obj for obj in flushed.new if isinstance(obj, models.Referral))

    def before_commit(_committing: Session) -> None:
        if created:
            finish(created[0])

    event.listen(sync, "after_flush", after_flush)
    event.listen(sync, "before_commit", before_commit)
    try:
        yield
    finally:
        event.remove(sync, "after_flush", after_flush)
        event.remove(sync, "before_commit", before_commit)


async def book(
    session: AsyncSession,
    ctx: Context,
    *,
    family: models.User,
    slot_id: int,
    consent_version: str,
    texts: Texts,
) -> Booking:
    """Claim the slot and create the referral for its organisation, with reminders."""
    now = ctx.clock.now()
    if family.region_code is None:
        return Booking(BookingOutcome.FORBIDDEN)
    slot = await session.get(models.ConsultationSlot, slot_id, populate_existing=True)
    if slot is None:
        return Booking(BookingOutcome.NOT_FOUND)
    entry = ctx.view.consultations.get(slot.consultation_id)
    if entry is None:
        return Booking(BookingOutcome.GONE)
    org, consultation = entry
    if org.region != family.region_code:
        return Booking(BookingOutcome.FORBIDDEN)
    if slot.starts_at <= now + BOOKING_LEAD:
        return Booking(BookingOutcome.GONE)
    if slot.referral_id is not None:
        return Booking(BookingOutcome.TAKEN)
    if any(
        booked.slot.consultation_id == slot.consultation_id
        for booked in await upcoming_bookings(session, family.id, now)
    ):
        return Booking(BookingOutcome.DUPLICATE)
    staff = await org_staff(session, org.id)
    if not staff:
        return Booking(BookingOutcome.GONE)
    # The claim: a placeholder (-slot id keeps referral_id unique) until the referral exists.
    # On PostgreSQL the second of two concurrent claims waits for the first to commit and then
    # finds referral_id set; on SQLite the write lock serialises them the same way.
    claimed = await session.execute(
        update(models.ConsultationSlot)
        .where(
            models.ConsultationSlot.id == slot.id,
            models.ConsultationSlot.referral_id.is_(None),
        )
        .values(referral_id=-slot.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return Booking(BookingOutcome.TAKEN)
    tz = region_timezone(ctx.view, org.region)
    starts_at = slot.starts_at

    def finish(referral: models.Referral) -> None:
        slot.referral_id = referral.id
        referral.consultation_slot_id = slot.id
        notices.queue_reminders(
            session,
            ctx,
            texts,
            referral_id=referral.id,
            starts_at=starts_at,
            org=org,
            consultation=consultation,
            family=family,
            staff=staff,
        )

    with _on_create(session, finish):
        referral = await transitions.create(
            session,
            ctx,
            family=family,
            need_id=consultation.need,
            municipality_id=family.municipality_id,
            description=notices.offer_description(texts, starts_at, tz, consultation),
            contact_phone=None,
            consent_version=consent_version,
            kind=ReferralKind.CONSULTATION,
            organization_id=org.id,
        )
    return Booking(BookingOutcome.OK, referral.id, starts_at, slot.consultation_id)


async def cancel_booking(
    session: AsyncSession, ctx: Context, *, family: models.User, referral_id: int
) -> Booking:
    """Cancel the referral, free its slot and drop its reminders in one transaction."""
    booked = await family_booking(session, family, referral_id)
    if booked is None:
        return Booking(BookingOutcome.FORBIDDEN)
    starts_at = booked.slot.starts_at
    await release(session, referral_id)
    # transitions.cancel commits these changes with the cancellation (or rolls them back).
    outcome = await transitions.cancel(session, ctx, referral_id=referral_id, family=family)
    if outcome is not Outcome.OK:
        await session.rollback()
        return Booking(BookingOutcome.TAKEN)
    return Booking(BookingOutcome.OK, referral_id, starts_at, booked.slot.consultation_id)


async def reschedule(
    session: AsyncSession,
    ctx: Context,
    *,
    family: models.User,
    referral_id: int,
    new_slot_id: int,
    texts: Texts,
) -> Booking:
    """Move a booking to another free slot of the same consultation, all or nothing."""
    now = ctx.clock.now()
    booked = await family_booking(session, family, referral_id)
    if booked is None:
        return Booking(BookingOutcome.FORBIDDEN)
    referral, old_slot = booked.referral, booked.slot
    new_slot = await session.get(models.ConsultationSlot, new_slot_id, populate_existing=True)
    if new_slot is None or new_slot.consultation_id != old_slot.consultation_id:
        return Booking(BookingOutcome.NOT_FOUND)
    entry = ctx.view.consultations.get(new_slot.consultation_id)
    if entry is None or new_slot.starts_at <= now + BOOKING_LEAD:
        return Booking(BookingOutcome.GONE)
    if new_slot.referral_id is not None:
        return Booking(BookingOutcome.TAKEN)
    org, consultation = entry
    # Free the old slot first: referral_id is unique, so the new claim can then take it.
    await session.execute(
        update(models.ConsultationSlot)
        .where(
            models.ConsultationSlot.id == old_slot.id,
            models.ConsultationSlot.referral_id == referral.id,
        )
        .values(referral_id=None)
        .execution_options(synchronize_session=False)
    )
    claimed = await session.execute(
        update(models.ConsultationSlot)
        .where(
            models.ConsultationSlot.id == new_slot.id,
            models.ConsultationSlot.referral_id.is_(None),
        )
        .values(referral_id=referral.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return Booking(BookingOutcome.TAKEN)
    tz = region_timezone(ctx.view, org.region)
    _, _, extra = (referral.description or "").partition("\n")
    if not await effects.compare_and_set(
        session,
        referral,
        OPEN_STATUSES,
        consultation_slot_id=new_slot.id,
        description=notices.offer_description(texts, new_slot.starts_at, tz, consultation, extra),
        updated_at=now,
    ):
        return Booking(BookingOutcome.TAKEN)
    effects.record_event(
        session,
        ctx,
        referral,
        EventAction.DETAILS_ADDED,
        from_status=referral.status,
        actor=family,
        reason=RESCHEDULED,
    )
    await drop_reminders(session, referral.id)
    if referral.assignee_user_id is not None:
        assignee = await session.get(models.User, referral.assignee_user_id)
        staff = [assignee] if assignee is not None else []
    else:
        staff = await org_staff(session, org.id)
    # The notice goes before the new reminders: a chat's messages are sent in queue order.
    notices.notify_moved(
        session,
        ctx,
        texts,
        referral_id=referral.id,
        starts_at=new_slot.starts_at,
        org=org,
        consultation=consultation,
        staff=staff,
    )
    notices.queue_reminders(
        session,
        ctx,
        texts,
        referral_id=referral.id,
        starts_at=new_slot.starts_at,
        org=org,
        consultation=consultation,
        family=family,
        staff=await org_staff(session, org.id),
    )
    await session.commit()
    return Booking(BookingOutcome.OK, referral.id, new_slot.starts_at, new_slot.consultation_id)
