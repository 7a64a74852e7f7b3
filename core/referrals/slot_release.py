"""Ending a consultation booking: free its slot and drop its pending reminders.

Both the referral state machine (a booking declined, expired, cancelled or forgotten) and the
consultations package (a booking cancelled or moved) need this, and consultations build on
referrals, never the reverse: living in the referrals package, it lets referrals end a booking
without importing consultations. The reminder schedule is here because the reminders to drop
are recognised by the kinds it names.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.enums import OutboxStatus, ReferralKind

# (how long before the start, name used in the notification kind)
REMINDERS = ((dt.timedelta(hours=24), "day"), (dt.timedelta(hours=1), "hour"))
REMINDER_KINDS = frozenset(
    f"consult.{side}_{when}" for side in ("family", "staff") for _, when in REMINDERS
)


async def release(session: AsyncSession, referral_id: int) -> None:
    """Free the booking's slot and drop its pending reminders; the caller commits.

    For every path that ends a consultation booking (cancel, decline, /forget).
    """
    await session.execute(
        update(models.ConsultationSlot)
        .where(models.ConsultationSlot.referral_id == referral_id)
        .values(referral_id=None)
        .execution_options(synchronize_session=False)
    )
    await drop_reminders(session, referral_id)


async def release_if_booking(session: AsyncSession, referral: models.Referral) -> None:
    """`release` for a consultation booking; a request holds no slot."""
    if referral.kind == ReferralKind.CONSULTATION:
        await release(session, referral.id)


async def drop_reminders(session: AsyncSession, referral_id: int) -> None:
    # The kind lives in a JSON payload; filtering it in Python keeps this dialect-neutral.
    rows = await session.execute(
        select(models.OutboxMessage.id, models.OutboxMessage.payload).where(
            models.OutboxMessage.referral_id == referral_id,
            models.OutboxMessage.status == OutboxStatus.PENDING,
        )
    )
    ids = [row_id for row_id, payload in rows.all() if payload.get("kind") in REMINDER_KINDS]
    if ids:
        await session.execute(
            delete(models.OutboxMessage)
            .where(
                models.OutboxMessage.id.in_(ids),
                models.OutboxMessage.status == OutboxStatus.PENDING,
            )
            .execution_options(synchronize_session=False)
        )
