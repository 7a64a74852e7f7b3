"""Who may act where: a manager's regions, an admin's reach, and which region a command
means when the manager did not name one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.enums import Channel, Role


@dataclass(frozen=True)
class ManagerAccess:
    admin: bool
    regions: tuple[str, ...]
    user_id: int | None

    @property
    def allowed(self) -> bool:
        return self.admin or bool(self.regions)

    def can(self, region_code: str | None) -> bool:
        return region_code is not None and (self.admin or region_code in self.regions)


async def manager_access(
    session: AsyncSession,
    messenger_id: int,
    admin_ids: Collection[int],
    channel: str = Channel.TELEGRAM,
) -> ManagerAccess:
    """Read from the DB on every update: a removed manager loses access at once."""
    # ADMIN_IDS are Telegram ids; on another messenger only a membership counts.
    admin = channel == Channel.TELEGRAM and messenger_id in admin_ids
    regions: set[str] = set()
    user = await session.scalar(
        select(models.User).where(
            models.User.channel == channel, models.User.messenger_id == messenger_id
        )
    )
    if user is not None:
        rows = await session.scalars(
            select(models.Membership).where(
                models.Membership.user_id == user.id,
                models.Membership.active,
                models.Membership.role.in_([Role.MANAGER, Role.ADMIN]),
            )
        )
        for membership in rows:
            if membership.role == Role.ADMIN:
                admin = True
            elif membership.region_code:
                regions.add(membership.region_code)
    return ManagerAccess(admin, tuple(sorted(regions)), user.id if user else None)


class RegionChoice(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    FORBIDDEN = "forbidden"
    NAME_IT = "name_it"


def choose_region(
    access: ManagerAccess, requested: str | None, known: Collection[str]
) -> tuple[RegionChoice, str | None]:
    """The region a command acts on: the named one (if allowed) or the manager's own."""
    if requested:
        code = requested.strip().upper()
        if code not in known:
            return RegionChoice.UNKNOWN, code
        if not access.can(code):
            return RegionChoice.FORBIDDEN, code
        return RegionChoice.OK, code
    if access.regions:
        return RegionChoice.OK, access.regions[0]
    return RegionChoice.NAME_IT, None
