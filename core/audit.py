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
