"""People and roles: consent-gated registration, location, language, roles and invites."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from db import models
from db.enums import ConsentKind, Role

INVITE_TTL = dt.timedelta(days=7)


async def get_user(session: AsyncSession, telegram_id: int) -> models.User | None:
    return await session.scalar(select(models.User).where(models.User.telegram_id == telegram_id))


async def _get_or_create(
    session: AsyncSession, clock: Clock, telegram_id: int, language: str
) -> models.User:
    user = await get_user(session, telegram_id)
    if user is None:
        now = clock.now()
        user = models.User(
            telegram_id=telegram_id, language=language, created_at=now, last_seen_at=now
        )
        session.add(user)
        await session.flush()
    return user


async def give_consent(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_id: int,
    language: str,
    version: str,
    region_code: str | None = None,
    municipality_id: str | None = None,
) -> models.User:
    """Record personal-data consent; what the person chose anonymously is kept from now on."""
    user = await _get_or_create(session, clock, telegram_id, language)
    if user.consent_version != version:
        session.add(
            models.Consent(
                user_id=user.id,
                kind=ConsentKind.PERSONAL_DATA,
                version=version,
                granted_at=clock.now(),
            )
        )
        user.consent_version = version
    if region_code is not None and user.region_code is None:
        user.region_code = region_code
        user.municipality_id = municipality_id
    await session.commit()
    return user


async def set_location(
    session: AsyncSession, user: models.User, region_code: str, municipality_id: str | None
) -> None:
    user.region_code = region_code
    user.municipality_id = municipality_id
    await session.commit()


async def set_language(session: AsyncSession, user: models.User, language: str) -> None:
    user.language = language
    await session.commit()


async def memberships(session: AsyncSession, user_id: int) -> list[models.Membership]:
    rows = await session.scalars(
        select(models.Membership).where(
            models.Membership.user_id == user_id, models.Membership.active
        )
    )
    return list(rows)


async def grant_role(
    session: AsyncSession,
    clock: Clock,
    *,
    telegram_id: int,
    role: Role,
    region_code: str | None = None,
    organization_id: str | None = None,
) -> models.Membership:
    """Give a role; granting the same role again returns the existing membership."""
    user = await _get_or_create(session, clock, telegram_id, "ru")
    existing = await session.scalar(
        select(models.Membership).where(
            models.Membership.user_id == user.id,
            models.Membership.role == role,
            models.Membership.region_code.is_(region_code)
            if region_code is None
            else models.Membership.region_code == region_code,
            models.Membership.organization_id.is_(organization_id)
            if organization_id is None
            else models.Membership.organization_id == organization_id,
        )
    )
    if existing is not None:
        existing.active = True
        await session.commit()
        return existing
    membership = models.Membership(
        user_id=user.id,
        role=role,
        region_code=region_code,
        organization_id=organization_id,
        created_at=clock.now(),
        active=True,
        paused=False,
    )
    session.add(membership)
    await session.commit()
    return membership


async def create_invite(
    session: AsyncSession,
    clock: Clock,
    *,
    role: Role,
    organization_id: str | None,
    region_code: str | None,
    created_by_user_id: int | None = None,
    ttl: dt.timedelta = INVITE_TTL,
) -> models.Invite:
    now = clock.now()
    invite = models.Invite(
        token=secrets.token_urlsafe(18),
        role=role,
        organization_id=organization_id,
        region_code=region_code,
        created_by_user_id=created_by_user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.commit()
    return invite


class InviteOutcome(StrEnum):
    JOINED = "joined"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True)
class InviteResult:
    outcome: InviteOutcome
    role: Role | None = None
    organization_id: str | None = None
    region_code: str | None = None


async def redeem_invite(
    session: AsyncSession, clock: Clock, *, token: str, telegram_id: int, language: str
) -> InviteResult:
    """Single use is enforced by a conditional UPDATE, so two people cannot share one link."""
    invite = await session.get(models.Invite, token)
    if invite is None:
        return InviteResult(InviteOutcome.UNKNOWN)
    if invite.used_at is not None:
        return InviteResult(InviteOutcome.USED)
    now = clock.now()
    if invite.expires_at <= now:
        return InviteResult(InviteOutcome.EXPIRED)
    user = await _get_or_create(session, clock, telegram_id, language)
    claimed = await session.execute(
        update(models.Invite)
        .where(models.Invite.token == token, models.Invite.used_at.is_(None))
        .values(used_at=now, used_by_user_id=user.id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return InviteResult(InviteOutcome.USED)
    role = Role(invite.role)
    session.add(
        models.Membership(
            user_id=user.id,
            role=role,
            organization_id=invite.organization_id,
            region_code=invite.region_code,
            created_at=now,
            active=True,
            paused=False,
        )
    )
    await session.commit()
    return InviteResult(InviteOutcome.JOINED, role, invite.organization_id, invite.region_code)
