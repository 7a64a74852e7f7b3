"""A region's digest (this week against the previous one) and the cluster overview of
several regions, as plain data for the renderers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core import channel_stats, outbox
from core.catalogue.active import CatalogueView
from core.digest.keys import DEFAULT_SLA_ACCEPT_HOURS, NUMERIC_KEYS
from core.digest.lists import (
    by_municipality,
    low_ratings,
    no_result_queries,
    not_helped_reasons,
    organization_rows,
    overdue_rows,
    silent_organizations,
    stale_measures,
    top_needs,
    unhelpful_measures,
)
from core.digest.numbers import week_numbers
from core.digest.sql import Slice
from core.digest.weeks import (
    Week,
    WeekError,
    current_week,
    last_completed_week,
    parse_week,
    region_timezone,
    resolve_week,
)
from core.reminders.figures import plan_figures
from db import models


async def week_slice(
    session: AsyncSession, view: CatalogueView, region_code: str, week: Week
) -> Slice:
    start, end = week.bounds(region_timezone(view, region_code))
    # Every organisation ever registered in the region, active or not: history stays counted.
    orgs = await session.scalars(
        select(models.Organization.id)
        .where(models.Organization.region_code == region_code)
        .order_by(models.Organization.id)
    )
    return Slice(region_code, start.astimezone(dt.UTC), end.astimezone(dt.UTC), tuple(orgs))


async def build_digest(
    session: AsyncSession,
    *,
    region_code: str,
    week: str | Week | None,
    view: CatalogueView,
    now: dt.datetime,
    sla_accept_hours: float = DEFAULT_SLA_ACCEPT_HOURS,
) -> dict[str, Any]:
    """The PRODUCT.md §4 digest object for a region and ISO week (default: the last completed).

    Raises ValueError (WeekError for the week) for an unknown region or an unusable week.
    """
    tz = region_timezone(view, region_code)
    chosen = week if isinstance(week, Week) else resolve_week(week, now=now, tz=tz)
    sl = await week_slice(session, view, region_code, chosen)
    before = await week_slice(session, view, region_code, chosen.shift(-1))
    sla_accept = dt.timedelta(hours=sla_accept_hours)

    numbers, counts = await week_numbers(session, sl)
    previous, _ = await week_numbers(session, before)
    start_local, end_local = chosen.bounds(tz)
    return {
        "region": region_code,
        "week": chosen.label,
        "period": {"start": start_local.isoformat(), "end": end_local.isoformat()},
        "demand": {
            **{key: numbers[key] for key in NUMERIC_KEYS["demand"]},
            "top_needs": await top_needs(session, sl),
            "no_result_queries": await no_result_queries(session, sl),
            "by_municipality": await by_municipality(session, sl),
            # Issue 16: new families and requests by messenger (telegram, max).
            "by_channel": await channel_stats.week_by_channel(
                session, region_code=region_code, start=sl.start, end=sl.end
            ),
        },
        "supply": {
            **{key: numbers[key] for key in NUMERIC_KEYS["supply"]},
            "organizations": await organization_rows(session, sl, counts),
        },
        "outcomes": {
            **{key: numbers[key] for key in NUMERIC_KEYS["outcomes"]},
            "not_helped_reasons": await not_helped_reasons(session, sl),
            "low_ratings": await low_ratings(session, sl),
        },
        "catalogue": {
            "stale_measures": stale_measures(view, region_code, end_local.date()),
            "unhelpful_measures": await unhelpful_measures(session, sl),
        },
        "attention": {
            "overdue_referrals": await overdue_rows(session, sl, now, sla_accept),
            "silent_organizations": await silent_organizations(session, sl, now, sla_accept),
            # Not in the PRODUCT.md keys (added, none changed): notifications the outbox gave
            # up on during the week after OUTBOX_GIVE_UP_HOURS of Telegram failures.
            "undelivered_notifications": await outbox.given_up_count(
                session, region_code=region_code, start=sl.start, end=sl.end
            ),
        },
        "previous_week": {"week": chosen.shift(-1).label, **previous},
        "plans": await plan_figures(session, region_code, sl.start, sl.end),
    }


async def build_cluster_overview(
    session: AsyncSession,
    *,
    week: str | Week | None,
    view: CatalogueView,
    now: dt.datetime,
    sla_accept_hours: float = DEFAULT_SLA_ACCEPT_HOURS,
) -> dict[str, Any]:
    """Key numbers of every region for one ISO week, side by side (for administrators).

    The default week is the last one completed in every region's timezone.
    """
    if not view.regions:
        raise ValueError("no regions in the catalogue")
    zones = {code: ZoneInfo(region.timezone) for code, region in view.regions.items()}
    if isinstance(week, Week):
        chosen = week
    elif week is None or not week.strip():
        chosen = min(last_completed_week(now, tz) for tz in zones.values())
    else:
        chosen = parse_week(week)
        if all(chosen > current_week(now, tz) for tz in zones.values()):
            raise WeekError("future", f"week {chosen.label} has not started yet")
    sla_accept = dt.timedelta(hours=sla_accept_hours)
    regions = []
    for code in sorted(view.regions):
        sl = await week_slice(session, view, code, chosen)
        numbers, _ = await week_numbers(session, sl)
        previous, _ = await week_numbers(
            session, await week_slice(session, view, code, chosen.shift(-1))
        )
        overdue = await overdue_rows(session, sl, now, sla_accept)
        regions.append(
            {
                "region": code,
                **numbers,
                "overdue_referrals": len(overdue),
                "previous_week": previous,
            }
        )
    return {"week": chosen.label, "regions": regions}
