"""The digest's lists for one week: needs, no-result queries, municipalities, organisations,
low ratings, stale measures, overdue referrals, silent organisations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.digest.keys import (
    LIST_LIMIT,
    LOW_RATING,
    LOW_RATINGS_LIMIT,
    NO_RESULT_MIN_FAMILIES,
    OVERDUE_LIMIT,
    SMALL_COUNT,
    UNHELPFUL_VERDICTS,
    mask,
)
from core.digest.numbers import accept_minutes
from core.digest.sql import E, F, R, S, Slice, as_minutes, avg_of, median_select, week_events
from db.enums import OPEN_STATUSES, EventAction, FeedbackKind, ReasonCode, ReferralStatus


async def top_needs(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    count = func.count().label("n")
    rows = await session.execute(
        select(R.need_id, count)
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .group_by(R.need_id)
        .order_by(count.desc(), R.need_id)
    )
    return [{"need": need, "count": n} for need, n in rows]


async def no_result_queries(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    """Empty searches that several families typed: one family's words never reach the digest."""
    count = func.count().label("n")
    rows = await session.execute(
        select(S.query, count)
        .where(
            S.region_code == sl.region_code,
            sl.of(S.at),
            S.kind == "search",
            S.results == 0,
            S.query != "",
        )
        .group_by(S.query)
        .having(func.count(func.distinct(S.user_id)) >= NO_RESULT_MIN_FAMILIES)
        .order_by(count.desc(), S.query)
        .limit(LIST_LIMIT)
    )
    return [{"query": query, "count": n} for query, n in rows]


async def by_municipality(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(R.municipality_id, func.count())
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .group_by(R.municipality_id)
    )
    counted = list(rows)
    # Small counts are not ranked among themselves: their order would tell 1 from 2.
    counted.sort(key=lambda row: (-row[1] if row[1] >= SMALL_COUNT else 0, row[0] or "~"))
    return [{"municipality": mun, "requests": mask(n)} for mun, n in counted]


async def organization_rows(
    session: AsyncSession, sl: Slice, counts: dict[tuple[str, str | None], int]
) -> list[dict[str, Any]]:
    medians: dict[str | None, Any] = dict(
        (await session.execute(median_select(accept_minutes(sl), group="org"))).all()
    )
    # The organisation now handling each answered referral, looked up per answer (few rows).
    org_of = select(R.organization_id).where(R.id == F.referral_id).scalar_subquery()
    rated = (
        select(org_of.label("org"), F.rating.label("rating"))
        .where(
            F.region_code == sl.region_code,
            sl.of(F.created_at),
            F.kind == FeedbackKind.REFERRAL,
            F.rating.isnot(None),
        )
        .subquery()
    )
    ratings: dict[str | None, Any] = dict(
        (
            await session.execute(
                select(rated.c.org, func.avg(rated.c.rating))
                .where(rated.c.org.isnot(None))
                .group_by(rated.c.org)
            )
        ).all()
    )
    org_ids = {org for (action, org) in counts if org is not None} | {
        org for org in ratings if org is not None
    }
    table: list[dict[str, Any]] = [
        {
            "id": org,
            "received": counts.get((EventAction.OFFERED, org), 0),
            "accepted": counts.get((EventAction.ACCEPTED, org), 0),
            "resolved": counts.get((EventAction.RESOLVED, org), 0),
            "median_minutes_to_accept": as_minutes(medians.get(org)),
            "rating_avg": avg_of(ratings.get(org)),
        }
        for org in org_ids
    ]
    table.sort(key=lambda row: (-row["received"], -row["accepted"], row["id"]))
    return table


async def not_helped_reasons(session: AsyncSession, sl: Slice) -> dict[str, int]:
    ev = week_events(sl, EventAction.NOT_HELPED, reason=True)
    reason = func.coalesce(ev.c.reason, ReasonCode.OTHER.value)
    rows = await session.execute(
        select(reason, func.count()).group_by(reason).order_by(func.count().desc(), reason)
    )
    return {code: n for code, n in rows}


async def low_ratings(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(F.rating, F.comment)
        .where(
            F.region_code == sl.region_code,
            sl.of(F.created_at),
            F.kind == FeedbackKind.REFERRAL,
            F.rating <= LOW_RATING,
        )
        .order_by(F.created_at, F.id)
        .limit(LOW_RATINGS_LIMIT)
    )
    return [{"rating": rating, "comment": comment} for rating, comment in rows]


async def unhelpful_measures(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    count = func.count().label("n")
    rows = await session.execute(
        select(F.measure_id, count)
        .where(
            F.region_code == sl.region_code,
            sl.of(F.created_at),
            F.kind == FeedbackKind.MEASURE,
            F.verdict.in_(UNHELPFUL_VERDICTS),
            F.measure_id.isnot(None),
        )
        .group_by(F.measure_id)
        .order_by(count.desc(), F.measure_id)
    )
    return [{"id": measure, "count": n} for measure, n in rows]


def stale_measures(view: CatalogueView, region_code: str, week_end: dt.date) -> list[str]:
    """Measures nobody compared with an official source, or did more than 180 days ago."""
    return sorted(
        m.id
        for m in view.measures_for_region(region_code)
        if m.check_state(week_end) is not schema.CheckState.FRESH
    )


async def overdue_rows(
    session: AsyncSession, sl: Slice, now: dt.datetime, sla_accept: dt.timedelta
) -> list[int]:
    """Open referrals whose deadline passed by the week's end (or by now, for this week).

    Longest overdue first. (Ordering by an expression, not the primary key, also keeps SQLite
    from walking the whole table in id order to serve the LIMIT.)
    """
    cutoff = min(sl.end, now)
    rows = await session.scalars(
        select(R.id)
        .where(
            R.region_code == sl.region_code,
            R.status.in_([s.value for s in OPEN_STATUSES]),
            or_(
                R.sla_due_at < cutoff,
                and_(R.status == ReferralStatus.OFFERED, R.offered_at < cutoff - sla_accept),
            ),
        )
        .order_by(func.coalesce(R.sla_due_at, R.offered_at), R.id)
        .limit(OVERDUE_LIMIT)
    )
    return list(rows)


async def silent_organizations(
    session: AsyncSession, sl: Slice, now: dt.datetime, sla_accept: dt.timedelta
) -> list[str]:
    """Organisations offered referrals this week that answered none of them.

    Only offers whose time to accept has run out by now are judged, so an offer made late on
    Sunday night does not brand an organisation silent on Monday morning. An answer to an offer
    of the week comes after the week's start, which bounds the answers to look at.
    """
    offered = (
        select(E.organization_id.label("org"), E.referral_id.label("rid"))
        .where(
            E.action == EventAction.OFFERED,
            E.organization_id.in_(sl.orgs),
            sl.of(E.at),
            E.at <= now - sla_accept,
        )
        .subquery()
    )
    answered = (
        select(E.organization_id.label("org"), E.referral_id.label("rid"))
        .where(
            E.action.in_([EventAction.ACCEPTED, EventAction.DECLINED]),
            E.organization_id.in_(sl.orgs),
            E.at >= sl.start,
            E.at <= now,
        )
        .subquery()
    )
    rows = await session.scalars(
        select(offered.c.org)
        .outerjoin(
            answered, and_(answered.c.org == offered.c.org, answered.c.rid == offered.c.rid)
        )
        .group_by(offered.c.org)
        .having(func.count(answered.c.rid) == 0)
        .order_by(offered.c.org)
    )
    return list(rows)
