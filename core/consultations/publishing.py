"""The organisation's side: publishing bookable times, and the demo's seeded slots.

Publishing is idempotent per (consultation, start): a unique constraint keeps two coordinators
publishing the same time at once from creating it twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.consultations.times import region_timezone
from db import models

DEMO_DAYS = 10
DEMO_TIMES = (dt.time(10, 0), dt.time(14, 0), dt.time(17, 0))


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
