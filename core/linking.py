"""One person on two messengers: `/link` gives a one-time code, the other messenger takes it.

What linking does (and only this): the two `users` rows point at each other; the row that
takes the code gets what the person already set up on the first one — consent (a new grant of
the same version, dated now: entering the code is the person's own act), language, region and
municipality, the saved screener profile, and every active role (a volunteer can take
offers, a manager read digests, on either messenger). Requests stay with the messenger they
were made on, and so does their conversation. `/forget` on either messenger erases both rows.
A code is single use (a conditional DELETE), expires after LINK_CODE_TTL, and a new /link
replaces the old one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.people import get_user
from db import models
from db.enums import ConsentKind

LINK_CODE_TTL = dt.timedelta(minutes=10)
# No 0/O, 1/I/L: the code is read on one screen and typed on another.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 31**8 ≈ 8.5e11 codes against a few guesses a second (the rate limit)


class LinkOutcome(StrEnum):
    LINKED = "linked"
    UNKNOWN = "unknown"  # no such code, or it expired or was used
    SAME_CHANNEL = "same_channel"  # sent on the messenger that gave it
    ALREADY = "already"  # one of the two rows is already linked to another


def normalise(code: str) -> str:
    return "".join(code.split()).upper()


async def create_code(session: AsyncSession, clock: Clock, user: models.User) -> str:
    """A fresh code for `user`; any older one stops working."""
    await session.execute(delete(models.LinkCode).where(models.LinkCode.user_id == user.id))
    now = clock.now()
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        models.LinkCode(code=code, user_id=user.id, created_at=now, expires_at=now + LINK_CODE_TTL)
    )
    await session.commit()
    return code


async def linked_user(session: AsyncSession, user: models.User) -> models.User | None:
    if user.linked_user_id is None:
        return None
    return await session.get(models.User, user.linked_user_id)


async def redeem_code(
    session: AsyncSession,
    clock: Clock,
    *,
    code: str,
    channel: str,
    messenger_user_id: int,
    language: str,
) -> LinkOutcome:
    """Link the code's owner with the person (channel, id) who sent it."""
    code = normalise(code)
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return LinkOutcome.UNKNOWN
    now = clock.now()
    found = await session.get(models.LinkCode, code)
    if found is None or found.expires_at <= now:
        return LinkOutcome.UNKNOWN
    source = await session.get(models.User, found.user_id)
    if source is None:
        return LinkOutcome.UNKNOWN
    if source.channel == channel:
        return LinkOutcome.SAME_CHANNEL
    target = await get_user(session, messenger_user_id, channel)
    if source.linked_user_id is not None or (
        target is not None and target.linked_user_id not in (None, source.id)
    ):
        return LinkOutcome.ALREADY
    used = await session.execute(
        delete(models.LinkCode).where(
            models.LinkCode.code == code, models.LinkCode.user_id == source.id
        )
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return LinkOutcome.UNKNOWN
    if target is None:
        target = models.User(
            channel=channel,
            messenger_id=messenger_user_id,
            language=source.language or language,
            created_at=now,
            last_seen_at=now,
        )
        session.add(target)
        await session.flush()
    await _bring_over(session, now, source, target)
    source.linked_user_id = target.id
    target.linked_user_id = source.id
    await session.commit()
    return LinkOutcome.LINKED


async def _bring_over(
    session: AsyncSession, now: dt.datetime, source: models.User, target: models.User
) -> None:
    """What the person set up on `source` becomes theirs on `target` too (nothing is taken
    away from `target`)."""
    if source.consent_version is not None and target.consent_version is None:
        session.add(
            models.Consent(
                user_id=target.id,
                kind=ConsentKind.PERSONAL_DATA,
                version=source.consent_version,
                granted_at=now,
            )
        )
        target.consent_version = source.consent_version
    if target.region_code is None:
        target.region_code = source.region_code
        target.municipality_id = source.municipality_id
    profile = await session.get(models.FamilyProfile, source.id)
    if profile is not None and await session.get(models.FamilyProfile, target.id) is None:
        session.add(
            models.FamilyProfile(user_id=target.id, data=dict(profile.data), updated_at=now)
        )
    held = {
        (m.role, m.organization_id, m.region_code)
        for m in await session.scalars(
            select(models.Membership).where(models.Membership.user_id == target.id)
        )
    }
    for membership in await session.scalars(
        select(models.Membership).where(
            models.Membership.user_id == source.id, models.Membership.active
        )
    ):
        key = (membership.role, membership.organization_id, membership.region_code)
        if key in held:
            continue
        session.add(
            models.Membership(
                user_id=target.id,
                role=membership.role,
                organization_id=membership.organization_id,
                region_code=membership.region_code,
                created_at=now,
                active=True,
                paused=membership.paused,
            )
        )
