"""One row of the audit log: who changed what in the catalogue or a membership, and when.

The row joins the caller's transaction; the use case that changes something owns the commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from db import models


def record_audit(
    session: AsyncSession, clock: Clock, user_id: int | None, action: str, details: dict[str, Any]
) -> None:
    session.add(
        models.AuditLog(at=clock.now(), actor_user_id=user_id, action=action, details=details)
    )


async def record_access(
    session: AsyncSession,
    clock: Clock,
    user_id: int | None,
    action: str,
    *,
    referral_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Seeing a family's request or exporting the catalogue changes nothing, but who saw what
    must be on record (152-FZ); the row is committed before the data is shown."""
    session.add(
        models.AuditLog(
            at=clock.now(),
            actor_user_id=user_id,
            action=action,
            referral_id=referral_id,
            details=details,
        )
    )
    await session.commit()
