"""Reads about referrals and the people around them: who is staff where, who may see what.

Nothing here writes; handlers call these to draw lists and to re-check permissions on every
button (callback data is never trusted), and the state machine calls them to find recipients.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.enums import OPEN_STATUSES, ReferralKind, ReferralStatus, Role

STAFF_ROLES = (Role.VOLUNTEER, Role.COORDINATOR)


async def staff_memberships(session: AsyncSession, user_id: int) -> list[models.Membership]:
    rows = await session.scalars(
        select(models.Membership).where(
            models.Membership.user_id == user_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
    )
    return list(rows)


async def membership_in(
    session: AsyncSession, user_id: int, organization_id: str | None
) -> models.Membership | None:
    if organization_id is None:
        return None
    return await session.scalar(
        select(models.Membership).where(
            models.Membership.user_id == user_id,
            models.Membership.organization_id == organization_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
    )


async def org_staff(
    session: AsyncSession, organization_id: str, *, include_paused: bool = False
) -> list[models.User]:
    query = (
        select(models.User)
        .join(models.Membership, models.Membership.user_id == models.User.id)
        .where(
            models.Membership.organization_id == organization_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
        .distinct()
    )
    if not include_paused:
        query = query.where(models.Membership.paused.is_(False))
    return list(await session.scalars(query))


async def region_managers(session: AsyncSession, region_code: str) -> list[models.User]:
    return list(
        await session.scalars(
            select(models.User)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.role == Role.MANAGER,
                models.Membership.region_code == region_code,
                models.Membership.active,
            )
            .distinct()
        )
    )


async def family_of(session: AsyncSession, referral: models.Referral) -> models.User | None:
    """The family that asked (None once it has been erased by /forget)."""
    if referral.family_user_id is None:
        return None
    return await session.get(models.User, referral.family_user_id)


async def family_referrals(session: AsyncSession, user_id: int) -> list[models.Referral]:
    return list(
        await session.scalars(
            select(models.Referral)
            .where(models.Referral.family_user_id == user_id)
            .order_by(models.Referral.id.desc())
            .limit(20)
        )
    )


async def open_requests(session: AsyncSession, user_id: int) -> int:
    """How many of the family's requests (not consultation bookings) are still open."""
    count = await session.scalar(
        select(func.count())
        .select_from(models.Referral)
        .where(
            models.Referral.family_user_id == user_id,
            models.Referral.kind == ReferralKind.REQUEST,
            models.Referral.status.in_(list(OPEN_STATUSES)),
        )
    )
    return int(count or 0)


async def inbox(
    session: AsyncSession, user_id: int, memberships: Sequence[models.Membership]
) -> list[models.Referral]:
    """Offered to my organisations or taken by me; a coordinator sees all open ones."""
    orgs = [m.organization_id for m in memberships if m.organization_id]
    coordinated = [
        m.organization_id for m in memberships if m.role == Role.COORDINATOR and m.organization_id
    ]
    if not orgs:
        return []
    visible = (
        (
            models.Referral.organization_id.in_(orgs)
            & (models.Referral.status == ReferralStatus.OFFERED)
        )
        | (models.Referral.assignee_user_id == user_id)
        | models.Referral.organization_id.in_(coordinated)
    )
    return list(
        await session.scalars(
            select(models.Referral)
            .where(visible, models.Referral.status.in_(list(OPEN_STATUSES)))
            .order_by(models.Referral.id)
            .limit(50)
        )
    )


async def may_work_on(session: AsyncSession, referral: models.Referral, user: models.User) -> bool:
    """The assignee, or a coordinator of the referral's organisation."""
    if referral.assignee_user_id == user.id:
        return True
    membership = await membership_in(session, user.id, referral.organization_id)
    return membership is not None and membership.role == Role.COORDINATOR


async def may_open(session: AsyncSession, referral: models.Referral, user: models.User) -> bool:
    """The inbox rule: offered to one of my organisations, assigned to me, or I coordinate it.

    A colleague's accepted referral is neither, even with a forged "open" button.
    """
    if referral.assignee_user_id == user.id:
        return True
    membership = await membership_in(session, user.id, referral.organization_id)
    if membership is None:
        return False
    return membership.role == Role.COORDINATOR or referral.status == ReferralStatus.OFFERED
