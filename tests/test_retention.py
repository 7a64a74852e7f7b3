"""Retention purges old free text of finished requests and keeps the counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import FrozenClock
from core.retention import purge
from db import models


def referral(status: str, updated: dt.datetime) -> models.Referral:
    return models.Referral(
        kind="request",
        region_code="RU-TAM",
        need_id="psych_help",
        status=status,
        description="Личная история семьи",
        contact_phone="+79001234567",
        created_at=updated,
        updated_at=updated,
        version=0,
        sla_stage=0,
    )


async def test_old_closed_requests_lose_their_text_but_stay_counted(
    session: AsyncSession, clock: FrozenClock
) -> None:
    now = clock.now()
    old_closed = referral("closed", now - dt.timedelta(days=400))
    old_open = referral("in_progress", now - dt.timedelta(days=400))
    recent_closed = referral("closed", now - dt.timedelta(days=10))
    session.add_all([old_closed, old_open, recent_closed])
    session.add(models.ProcessedUpdate(update_id=1, processed_at=now - dt.timedelta(days=8)))
    session.add(models.ProcessedUpdate(update_id=2, processed_at=now))
    await session.commit()

    purged = await purge(session, now, dt.timedelta(days=365))
    assert (purged.referrals, purged.technical) == (1, 1)
    for row in (old_closed, old_open, recent_closed):
        await session.refresh(row)
    assert (old_closed.description, old_closed.contact_phone) == (None, None)
    assert old_open.description == "Личная история семьи", "open requests are never purged"
    assert recent_closed.contact_phone == "+79001234567"
    assert await session.scalar(select(func.count()).select_from(models.Referral)) == 3
    assert await session.get(models.ProcessedUpdate, ("telegram", 2)) is not None


async def test_old_searches_lose_their_text_and_family_but_stay_counted(
    session: AsyncSession, clock: FrozenClock
) -> None:
    now = clock.now()
    family = models.User(messenger_id=7310049001, consent_version="1.0", created_at=now)
    family.last_seen_at = now
    session.add(family)
    await session.flush()
    for days in (100, 91, 10):
        session.add(
            models.SearchLog(
                at=now - dt.timedelta(days=days),
                region_code="RU-TAM",
                kind="search",
                query="няня на час",
                results=0,
                user_id=family.id,
            )
        )
    await session.commit()

    purged = await purge(session, now, dt.timedelta(days=365), dt.timedelta(days=90))
    assert purged.searches == 2
    rows = list(await session.scalars(select(models.SearchLog).order_by(models.SearchLog.at)))
    assert [(row.query, row.user_id) for row in rows] == [
        ("", None),
        ("", None),
        ("няня на час", family.id),
    ], "only searches older than the retention period are emptied; all three still count"
