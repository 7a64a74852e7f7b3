"""Consultations: organisations publish time slots, families book, move and cancel them.

A booking is a referral of kind `consultation` offered straight to the organisation, linked to
its slot both ways (`consultation_slots.referral_id`, `referrals.consultation_slot_id`). A slot
is claimed by a conditional UPDATE (`referral_id IS NULL`), so of two families pressing the same
time only one gets it. Reminders the day before and an hour before are ordinary outbox rows with
`not_before`: they survive restarts without a scheduler job and are deleted when the booking is
cancelled or moved.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core import outbox, referrals
from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.consultation_slots import REMINDERS, drop_reminders, release
from core.referrals import Context
from core.texts import Texts, Translator
from db import models
from db.enums import (
    OPEN_STATUSES,
    EventAction,
    ReferralKind,
    Role,
)

# A slot starting sooner than this is no longer offered: the organisation needs time to accept.
BOOKING_LEAD = dt.timedelta(hours=1)
MOVED_KIND = "consult.staff_moved"
RESCHEDULED = "rescheduled"  # the reason on the DETAILS_ADDED event of a moved booking
DEMO_DAYS = 10
DEMO_TIMES = (dt.time(10, 0), dt.time(14, 0), dt.time(17, 0))
MAX_LINES = 100


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


@dataclass(frozen=True)
class BookedSlot:
    """One of a family's upcoming bookings."""

    referral: models.Referral
    slot: models.ConsultationSlot


# --- time ---------------------------------------------------------------------------------


def region_timezone(view: CatalogueView, region_code: str | None) -> ZoneInfo:
    region = view.regions.get(region_code or "")
    return ZoneInfo(region.timezone if region else "Europe/Moscow")


def format_slot(t: Translator, starts_at: dt.datetime, tz: ZoneInfo) -> str:
    """A slot's start in the region's local time, e.g. "пн 1 дек, 14:00"."""
    local = starts_at.astimezone(tz)
    weekdays = t("consult.weekdays").split()
    months = t("consult.months").split()
    return t(
        "consult.slot_time",
        weekday=weekdays[local.weekday()],
        day=local.day,
        month=months[local.month - 1],
        time=local.strftime("%H:%M"),
    )


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+|T)(\d{1,2})[:.](\d{2})$")
_DOTTED = re.compile(
    r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}|\d{2}))?(?:\s+|\s*,\s*)(\d{1,2})[:.](\d{2})$"
)


def parse_times(text: str, tz: ZoneInfo, now: dt.datetime) -> tuple[list[dt.datetime], list[str]]:
    """Times typed one per line ("2026-12-01 15:00" or "01.12 15:00"), local to the region.

    Returns the understood times in UTC and the lines that were not understood. A date without
    a year is the next such day from today on (so "05.01" typed in December means January).
    """
    today = now.astimezone(tz).date()
    found: list[dt.datetime] = []
    bad: list[str] = []
    for raw in text.splitlines()[:MAX_LINES]:
        line = raw.strip()
        if not line:
            continue
        moment = _parse_line(line, today)
        if moment is None:
            bad.append(line)
        else:
            found.append(moment.replace(tzinfo=tz).astimezone(dt.UTC))
    return found, bad


def _parse_line(line: str, today: dt.date) -> dt.datetime | None:
    try:
        if match := _ISO.match(line):
            year, month, day, hour, minute = (int(g) for g in match.groups())
            return dt.datetime(year, month, day, hour, minute)
        if match := _DOTTED.match(line):
            day, month = int(match[1]), int(match[2])
            hour, minute = int(match[4]), int(match[5])
            if match[3]:
                year = int(match[3])
                year += 2000 if year < 100 else 0
            else:
                year = today.year
                if dt.date(year, month, day) < today:
                    year += 1
            return dt.datetime(year, month, day, hour, minute)
    except ValueError:  # 31.02, 25:00 and the like
        return None
    return None


# --- queries ------------------------------------------------------------------------------


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


# --- notifications ------------------------------------------------------------------------


def _params(
    texts: Texts,
    lang: str,
    number: int,
    starts_at: dt.datetime,
    tz: ZoneInfo,
    org: schema.Organization,
    consultation: schema.Consultation,
) -> dict[str, Any]:
    """Rendered now in the recipient's language: the renderer only fills in the template."""
    t = texts.get(lang)
    ru = t.lang == "ru"
    return {
        "number": number,
        "time": format_slot(t, starts_at, tz),
        "title": consultation.title if ru else consultation.title_en,
        "organization": org.name if ru else org.name_en,
        "format": t(f"format.{consultation.format.value}"),
    }


def _queue_reminders(
    session: AsyncSession,
    ctx: Context,
    texts: Texts,
    *,
    referral_id: int,
    starts_at: dt.datetime,
    org: schema.Organization,
    consultation: schema.Consultation,
    family: models.User,
    staff: Sequence[models.User],
) -> None:
    now = ctx.clock.now()
    tz = region_timezone(ctx.view, org.region)
    recipients = [(family, "family"), *((user, "staff") for user in staff)]
    for before, when in REMINDERS:
        due = starts_at - before
        if due <= now:
            continue
        for user, side in recipients:
            outbox.notify(
                session,
                ctx.clock,
                chat_id=user.telegram_id,
                channel=user.channel,
                lang=user.language,
                kind=f"consult.{side}_{when}",
                params=_params(
                    texts, user.language, referral_id, starts_at, tz, org, consultation
                ),
                referral_id=referral_id,
                not_before=due,
            )


# --- family actions -----------------------------------------------------------------------


@contextmanager
def _on_create(session: AsyncSession, finish: Callable[[models.Referral], None]) -> Iterator[None]:
    """Run `finish(referral)` inside the transaction that `referrals.create` commits.

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


def _description(
    texts: Texts,
    starts_at: dt.datetime,
    tz: ZoneInfo,
    consultation: schema.Consultation,
    extra: str | None = None,
) -> str:
    """What the organisation reads in the offer; the first line names the consultation."""
    t = texts.get("ru")
    line = t(
        "consult.description",
        title=consultation.title,
        time=format_slot(t, starts_at, tz),
        format=t(f"format.{consultation.format.value}"),
    )
    return f"{line}\n{extra}" if extra else line


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
    staff = await referrals.org_staff(session, org.id)
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
        _queue_reminders(
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
        referral = await referrals.create(
            session,
            ctx,
            family=family,
            need_id=consultation.need,
            municipality_id=family.municipality_id,
            description=_description(texts, starts_at, tz, consultation),
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
    # referrals.cancel commits these changes with the cancellation (or rolls them back).
    outcome = await referrals.cancel(session, ctx, referral_id=referral_id, family=family)
    if outcome is not referrals.Outcome.OK:
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
    moved = await session.execute(
        update(models.Referral)
        .where(
            models.Referral.id == referral.id,
            models.Referral.version == referral.version,
            models.Referral.status.in_(list(OPEN_STATUSES)),
        )
        .values(
            version=referral.version + 1,
            consultation_slot_id=new_slot.id,
            description=_description(texts, new_slot.starts_at, tz, consultation, extra),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return Booking(BookingOutcome.TAKEN)
    await session.refresh(referral)
    session.add(
        models.ReferralEvent(
            referral_id=referral.id,
            at=now,
            actor_user_id=family.id,
            action=EventAction.DETAILS_ADDED,
            from_status=referral.status,
            to_status=referral.status,
            organization_id=referral.organization_id,
            reason=RESCHEDULED,
        )
    )
    await drop_reminders(session, referral.id)
    if referral.assignee_user_id is not None:
        assignee = await session.get(models.User, referral.assignee_user_id)
        staff = [assignee] if assignee is not None else []
    else:
        staff = await referrals.org_staff(session, org.id)
    # The notice goes before the new reminders: a chat's messages are sent in queue order.
    for user in staff:
        if user.unreachable:
            continue
        outbox.notify(
            session,
            ctx.clock,
            chat_id=user.telegram_id,
            channel=user.channel,
            lang=user.language,
            kind=MOVED_KIND,
            params=_params(
                texts, user.language, referral.id, new_slot.starts_at, tz, org, consultation
            ),
            referral_id=referral.id,
        )
    _queue_reminders(
        session,
        ctx,
        texts,
        referral_id=referral.id,
        starts_at=new_slot.starts_at,
        org=org,
        consultation=consultation,
        family=family,
        staff=await referrals.org_staff(session, org.id),
    )
    await session.commit()
    return Booking(BookingOutcome.OK, referral.id, new_slot.starts_at, new_slot.consultation_id)


# --- organisation side --------------------------------------------------------------------


async def _insert_slots(
    session: AsyncSession, consultation_id: str, starts: Iterable[dt.datetime], now: dt.datetime
) -> int:
    wanted = {moment.astimezone(dt.UTC) for moment in starts if moment > now}
    if not wanted:
        return 0
    existing = set(
        await session.scalars(
            select(models.ConsultationSlot.starts_at).where(
                models.ConsultationSlot.consultation_id == consultation_id,
                models.ConsultationSlot.starts_at.in_(list(wanted)),
            )
        )
    )
    new = sorted(wanted - existing)
    session.add_all(
        models.ConsultationSlot(consultation_id=consultation_id, starts_at=moment)
        for moment in new
    )
    await session.flush()
    return len(new)


async def _insert_committed(
    session: AsyncSession, batches: Sequence[tuple[str, list[dt.datetime]]], now: dt.datetime
) -> int:
    # Two coordinators publishing the same time at once: the unique (consultation, start)
    # rejects the second insert; one more pass then sees the row and skips it.
    for attempt in range(2):
        try:
            added = 0
            for consultation_id, starts in batches:
                added += await _insert_slots(session, consultation_id, starts, now)
            await session.commit()
            return added
        except IntegrityError:
            await session.rollback()
            if attempt:
                raise
    return 0


async def publish_slots(
    session: AsyncSession,
    *,
    organization_id: str,
    consultation_id: str,
    starts: list[dt.datetime],
    now: dt.datetime,
) -> int:
    """Add bookable times to one of the organisation's consultations; past times and times
    already published are skipped. Returns how many were added."""
    consultation = await session.get(models.Consultation, consultation_id)
    if (
        consultation is None
        or not consultation.active
        or consultation.organization_id != organization_id
    ):
        raise ValueError("the consultation is not offered by this organisation")
    return await _insert_committed(session, [(consultation_id, starts)], now)


def _working_days(after: dt.date, count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = after
    while len(days) < count:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


async def seed_demo_slots(session: AsyncSession, view: CatalogueView, now: dt.datetime) -> int:
    """Slots for every consultation of the demo organisations: the next working days at 10:00,
    14:00 and 17:00 local time. Safe to run on every start; returns how many were added."""
    batches: list[tuple[str, list[dt.datetime]]] = []
    for cid, (org, _) in view.consultations.items():
        if not org.demo or org.region not in view.regions:
            continue
        tz = region_timezone(view, org.region)
        today = now.astimezone(tz).date()
        starts = [
            dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)
            for day in _working_days(today, DEMO_DAYS)
            for at in DEMO_TIMES
        ]
        batches.append((cid, starts))
    return await _insert_committed(session, batches, now)
