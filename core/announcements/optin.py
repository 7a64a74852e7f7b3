"""The news opt-in: a family's `news` consent, given and revoked."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from db import models
from db.enums import ConsentKind

NEWS_VERSION = "1"


async def news_subscribed(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(models.Consent.id).where(
            models.Consent.user_id == user_id,
            models.Consent.kind == ConsentKind.NEWS,
            models.Consent.revoked_at.is_(None),
        )
    )
    return found is not None


async def set_news(session: AsyncSession, clock: Clock, user_id: int, subscribe: bool) -> None:
    """Grant (a new consent row) or revoke (stamp the open ones); both keep the history."""
    if subscribe:
        if not await news_subscribed(session, user_id):
            session.add(
                models.Consent(
                    user_id=user_id,
                    kind=ConsentKind.NEWS,
                    version=NEWS_VERSION,
                    granted_at=clock.now(),
                )
            )
    else:
        await session.execute(
            update(models.Consent)
            .where(
                models.Consent.user_id == user_id,
                models.Consent.kind == ConsentKind.NEWS,
                models.Consent.revoked_at.is_(None),
            )
            .values(revoked_at=clock.now())
        )
    await session.commit()
