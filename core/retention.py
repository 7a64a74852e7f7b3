"""Retention: personal free text of finished requests does not stay forever (152-FZ).

Counts survive: the rows stay, only descriptions, phones and comments are emptied; old
searches lose their text and their link to the family. Technical logs (processed update ids,
sent notifications, dead letters) are trimmed too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.enums import OPEN_STATUSES, OutboxStatus

TECHNICAL_KEEP = dt.timedelta(days=30)
UPDATE_IDS_KEEP = dt.timedelta(days=7)
SEARCH_KEEP = dt.timedelta(days=90)


@dataclass(frozen=True)
class Purged:
    referrals: int
    comments: int
    technical: int
    searches: int = 0


async def purge(
    session: AsyncSession,
    now: dt.datetime,
    keep: dt.timedelta,
    search_keep: dt.timedelta = SEARCH_KEEP,
) -> Purged:
    cutoff = now - keep
    searches = await session.execute(
        update(models.SearchLog)
        .where(
            models.SearchLog.at < now - search_keep,
            (models.SearchLog.query != "") | (models.SearchLog.user_id.is_not(None)),
        )
        .values(query="", user_id=None)
    )
    referrals = await session.execute(
        update(models.Referral)
        .where(
            models.Referral.status.not_in(list(OPEN_STATUSES)),
            models.Referral.updated_at < cutoff,
            (models.Referral.description.is_not(None))
            | (models.Referral.contact_phone.is_not(None)),
        )
        .values(description=None, contact_phone=None)
    )
    comments = await session.execute(
        update(models.Feedback)
        .where(models.Feedback.created_at < cutoff, models.Feedback.comment.is_not(None))
        .values(comment=None)
    )
    technical = 0
    for statement in (
        delete(models.ProcessedUpdate).where(
            models.ProcessedUpdate.processed_at < now - UPDATE_IDS_KEEP
        ),
        delete(models.OutboxMessage).where(
            models.OutboxMessage.status != OutboxStatus.PENDING,
            models.OutboxMessage.created_at < now - TECHNICAL_KEEP,
        ),
        delete(models.DeadLetter).where(models.DeadLetter.last_failed_at < now - TECHNICAL_KEEP),
        # MAX message ids: an edit of a month-old message may fail, the person's trace goes.
        delete(models.MaxMessage).where(models.MaxMessage.created_at < now - TECHNICAL_KEEP),
    ):
        result = await session.execute(statement)
        technical += int(result.rowcount or 0)  # type: ignore[attr-defined]
    await session.commit()
    return Purged(
        int(referrals.rowcount or 0),  # type: ignore[attr-defined]
        int(comments.rowcount or 0),  # type: ignore[attr-defined]
        technical,
        int(searches.rowcount or 0),  # type: ignore[attr-defined]
    )
