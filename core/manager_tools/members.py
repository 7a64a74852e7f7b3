"""An organisation's staff as its manager sees them, and removing one of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record_audit
from core.clock import Clock
from core.manager_tools.organizations import organization_in
from core.referrals.queries import STAFF_ROLES
from db import models
from db.enums import Channel


@dataclass(frozen=True)
class Member:
    membership_id: int
    messenger_id: int
    role: str
    paused: bool
    since: dt.datetime
    channel: str = Channel.TELEGRAM  # the messenger `messenger_id` belongs to


async def org_members(session: AsyncSession, org_id: str) -> list[Member]:
    rows = await session.execute(
        select(models.Membership, models.User.messenger_id, models.User.channel)
        .join(models.User, models.User.id == models.Membership.user_id)
        .where(
            models.Membership.organization_id == org_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
        .order_by(models.Membership.role, models.Membership.id)
    )
    return [
        Member(m.id, messenger_id, m.role, m.paused, m.created_at, channel)
        for m, messenger_id, channel in rows.all()
    ]


async def remove_member(
    session: AsyncSession,
    clock: Clock,
    *,
    membership_id: int,
    region_code: str,
    user_id: int | None,
) -> str | None:
    """Deactivate a volunteer/coordinator of the region; returns the organisation id."""
    membership = await session.get(models.Membership, membership_id)
    if membership is None or not membership.active or membership.role not in STAFF_ROLES:
        return None
    org = await organization_in(session, membership.organization_id or "", region_code)
    if org is None:
        return None
    membership.active = False
    record_audit(
        session,
        clock,
        user_id,
        "member_remove",
        {"organization": org.id, "membership": membership_id},
    )
    await session.commit()
    return org.id
