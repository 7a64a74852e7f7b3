"""The digest's numbers for one week (demand, supply, outcomes), counted by the database."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import (
    Select,
    case,
    func,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.digest.keys import ACTION_KEYS, COUNTED_ACTIONS, GOT_HELP_YES, SEARCH_KINDS
from core.digest.sql import (
    F,
    R,
    S,
    Slice,
    U,
    as_minutes,
    avg_of,
    median_select,
    minutes_between,
    ratio_of,
    week_events,
)
from db.enums import EventAction, FeedbackKind


async def _event_counts(session: AsyncSession, sl: Slice) -> dict[tuple[str, str | None], int]:
    ev = week_events(sl, *COUNTED_ACTIONS)
    rows = await session.execute(
        select(ev.c.action, ev.c.org, func.count()).group_by(ev.c.action, ev.c.org)
    )
    return {(action, org): count for action, org, count in rows}


def accept_minutes(sl: Slice) -> Select[str | None, float]:
    """Minutes from creation to acceptance of the referrals accepted in the week.

    A referral is accepted once, and `accepted_at` is stamped with its `accepted` event, so
    the referral row alone answers this (an index-only range, no join per event).
    """
    return select(
        R.organization_id.label("org"),
        minutes_between(R.created_at, R.accepted_at).label("m"),
    ).where(R.region_code == sl.region_code, sl.of(R.accepted_at))


async def week_numbers(
    session: AsyncSession, sl: Slice
) -> tuple[dict[str, Any], dict[tuple[str, str | None], int]]:
    """The flat numeric keys of NUMERIC_KEYS for one week, and the per-organisation counts."""
    new_families = await session.scalar(
        select(func.count())
        .select_from(U)
        .where(U.region_code == sl.region_code, sl.of(U.created_at), U.consent_version.isnot(None))
    )
    active = union(
        select(S.user_id.label("uid")).where(
            S.region_code == sl.region_code, sl.of(S.at), S.user_id.isnot(None)
        ),
        select(R.family_user_id).where(
            R.region_code == sl.region_code, sl.of(R.created_at), R.family_user_id.isnot(None)
        ),
        select(F.user_id).where(
            F.region_code == sl.region_code, sl.of(F.created_at), F.user_id.isnot(None)
        ),
    ).subquery()
    active_families = await session.scalar(select(func.count()).select_from(active))
    searches, no_result = (
        await session.execute(
            select(func.count(), func.count(case((S.results == 0, 1)))).where(
                S.region_code == sl.region_code, sl.of(S.at), S.kind.in_(SEARCH_KINDS)
            )
        )
    ).one()
    created = await session.scalar(
        select(func.count()).where(R.region_code == sl.region_code, sl.of(R.created_at))
    )
    counts = await _event_counts(session, sl)
    by_action: dict[str, int] = defaultdict(int)
    for (action, _org), count in counts.items():
        by_action[action] += count
    median = await session.scalar(median_select(accept_minutes(sl)))
    fb_count, yes, answered, rating = (
        await session.execute(
            select(
                func.count(),
                func.count(case((F.got_help == GOT_HELP_YES, 1))),
                func.count(F.got_help),
                func.avg(F.rating),
            ).where(
                F.region_code == sl.region_code,
                sl.of(F.created_at),
                F.kind == FeedbackKind.REFERRAL,
            )
        )
    ).one()
    loop = week_events(sl, EventAction.CONFIRMED, EventAction.RESOLVED, EventAction.NOT_HELPED)
    # Distinct referrals on each side of the loop: confirmed, and resolved or not helped.
    confirmed_side = (loop.c.action == EventAction.CONFIRMED).label("confirmed")
    pairs = select(confirmed_side, loop.c.rid).distinct().subquery()
    sides: dict[bool, int] = dict(
        (
            await session.execute(
                select(pairs.c.confirmed, func.count()).group_by(pairs.c.confirmed)
            )
        ).all()
    )
    confirmed, finished = int(sides.get(True, 0)), int(sides.get(False, 0))
    closed_loop = ratio_of(confirmed, finished)
    numbers: dict[str, Any] = {
        "new_families": new_families or 0,
        "active_families": active_families or 0,
        "searches": searches,
        "searches_no_result": no_result,
        "referrals_created": created or 0,
        **{key: by_action[action] for action, key in ACTION_KEYS.items()},
        "median_minutes_to_accept": as_minutes(median),
        "feedback_count": fb_count,
        "got_help_rate": ratio_of(yes, answered),
        # Confirmations of the week can answer resolutions of an earlier week: keep it a rate.
        "closed_loop_rate": None if closed_loop is None else min(closed_loop, 1.0),
        "rating_avg": avg_of(rating),
    }
    return numbers, counts
