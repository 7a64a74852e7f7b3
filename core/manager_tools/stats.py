"""/stats: a region's numbers for today and the last days, in the region's timezone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.catalogue.active import CatalogueView
from db import models
from db.enums import ConsentKind, ReferralStatus


@dataclass(frozen=True)
class RegionStats:
    region: str
    day: dt.date
    families: int
    new_families: int
    news_subscribers: int
    searches: int
    searches_no_result: int
    referrals_today: int
    by_status: dict[str, int]
    open_past_sla: int
    organizations_active: int
    undelivered_notifications: int = 0  # given up by the outbox in the last 7 days


def _day_bounds(now: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(tz)
    start = dt.datetime.combine(local.date(), dt.time(0), tzinfo=tz)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


async def region_stats(
    session: AsyncSession,
    *,
    region_code: str,
    view: CatalogueView,
    now: dt.datetime,
    sla_accept: dt.timedelta,
    sla_contact: dt.timedelta,
) -> RegionStats:
    """Today's numbers (the region's local day) with a handful of aggregate queries."""
    tz = ZoneInfo(view.regions[region_code].timezone)
    start, end = _day_bounds(now, tz)
    U, R, S = models.User, models.Referral, models.SearchLog
    families, new_families = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(U.created_at >= start, U.created_at < end),
            ).where(U.region_code == region_code, U.consent_version.is_not(None))
        )
    ).one()
    subscribers = await session.scalar(
        select(func.count(func.distinct(models.Consent.user_id)))
        .join(U, U.id == models.Consent.user_id)
        .where(
            U.region_code == region_code,
            models.Consent.kind == ConsentKind.NEWS,
            models.Consent.revoked_at.is_(None),
        )
    )
    searches, empty = (
        await session.execute(
            select(func.count(), func.count().filter(S.results == 0)).where(
                S.region_code == region_code, S.at >= start, S.at < end
            )
        )
    ).one()
    by_status = dict(
        (
            await session.execute(
                select(R.status, func.count())
                .where(R.region_code == region_code)
                .group_by(R.status)
            )
        ).all()
    )
    created_today = await session.scalar(
        select(func.count()).where(
            R.region_code == region_code, R.created_at >= start, R.created_at < end
        )
    )
    past_sla = await session.scalar(
        select(func.count()).where(
            R.region_code == region_code,
            ((R.status == ReferralStatus.OFFERED) & (R.offered_at <= now - sla_accept))
            | (
                (R.status == ReferralStatus.ACCEPTED)
                & R.first_contact_at.is_(None)
                & (R.accepted_at <= now - sla_contact)
            ),
        )
    )
    return RegionStats(
        region=region_code,
        day=now.astimezone(tz).date(),
        families=int(families),
        new_families=int(new_families),
        news_subscribers=int(subscribers or 0),
        searches=int(searches),
        searches_no_result=int(empty),
        referrals_today=int(created_today or 0),
        by_status={str(k): int(v) for k, v in by_status.items()},
        open_past_sla=int(past_sla or 0),
        organizations_active=len(view.organizations_for_region(region_code)),
        undelivered_notifications=await outbox.given_up_count(
            session, region_code=region_code, start=now - dt.timedelta(days=7), end=None
        ),
    )
