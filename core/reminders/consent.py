"""The reminders opt-in (a consent of its own, apart from personal data and news) and mutes.

Granting adds a `consents` row and stopping stamps it revoked, so the history stays as for the
other consents; `/forget` deletes both with the person (core/privacy.py), after recording the
consent in `erasure_records` like every other one.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.reminders.kinds import ReminderKind
from db import models
from db.enums import ConsentKind

REMINDERS_VERSION = "1"
_KINDS = frozenset(kind.value for kind in ReminderKind)


async def reminders_on(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(models.Consent.id).where(
            models.Consent.user_id == user_id,
            models.Consent.kind == ConsentKind.REMINDERS,
            models.Consent.revoked_at.is_(None),
        )
    )
    return found is not None


async def ever_turned_on(session: AsyncSession, user_id: int) -> bool:
    """Whether the family ever answered yes (a consent row, revoked or not): the offer after
    /find is not repeated to someone who once chose."""
    found = await session.scalar(
        select(models.Consent.id).where(
            models.Consent.user_id == user_id, models.Consent.kind == ConsentKind.REMINDERS
        )
    )
    return found is not None


async def set_reminders(session: AsyncSession, clock: Clock, user: models.User, on: bool) -> bool:
    """Turn all reminders on or off; True if that changed anything. Only a person who gave the
    personal-data consent can turn them on: reminders are worked out from stored data."""
    current = await reminders_on(session, user.id)
    if on == current or (on and not user.consent_version):
        return False
    if on:
        session.add(
            models.Consent(
                user_id=user.id,
                kind=ConsentKind.REMINDERS,
                version=REMINDERS_VERSION,
                granted_at=clock.now(),
            )
        )
        # Turning reminders on again means every kind: earlier mutes are forgotten.
        await session.execute(
            delete(models.ReminderMute).where(models.ReminderMute.user_id == user.id)
        )
    else:
        await session.execute(
            update(models.Consent)
            .where(
                models.Consent.user_id == user.id,
                models.Consent.kind == ConsentKind.REMINDERS,
                models.Consent.revoked_at.is_(None),
            )
            .values(revoked_at=clock.now())
        )
    await session.commit()
    return True


async def muted_kinds(session: AsyncSession, user_id: int) -> set[ReminderKind]:
    rows = await session.scalars(
        select(models.ReminderMute.kind).where(models.ReminderMute.user_id == user_id)
    )
    return {ReminderKind(kind) for kind in rows if kind in _KINDS}


async def mute(session: AsyncSession, clock: Clock, user_id: int, kind: ReminderKind) -> bool:
    """«Не напоминать об этом»; True if the kind was not muted yet."""
    if kind in await muted_kinds(session, user_id):
        return False
    session.add(models.ReminderMute(user_id=user_id, kind=kind, muted_at=clock.now()))
    try:
        await session.commit()
    except IntegrityError:  # the same button pressed twice at once: the other press won
        await session.rollback()
        return False
    return True


async def unmute_all(session: AsyncSession, user_id: int) -> bool:
    """«Снова напоминать обо всём»; True if some kind was muted."""
    done = await session.execute(
        delete(models.ReminderMute).where(models.ReminderMute.user_id == user_id)
    )
    await session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def export_reminders(session: AsyncSession, user_id: int) -> dict[str, object]:
    """For /mydata: the reminders sent to this person and the kinds they muted."""
    sent = await session.scalars(
        select(models.ReminderSent)
        .where(models.ReminderSent.user_id == user_id)
        .order_by(models.ReminderSent.id)
    )
    mutes = await session.scalars(
        select(models.ReminderMute.kind)
        .where(models.ReminderMute.user_id == user_id)
        .order_by(models.ReminderMute.id)
    )
    return {
        "sent": [
            {"reminder": row.key, "measure": row.measure_id, "at": row.sent_at.isoformat()}
            for row in sent
        ],
        "muted": list(mutes),
    }
