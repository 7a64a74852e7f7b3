"""The workbook's detail sheets: needs by municipality and the week's referral rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.digest.build import week_slice
from core.digest.keys import REFERRAL_ROWS_LIMIT, mask
from core.digest.sql import R, as_minutes, minutes_between
from core.digest.weeks import Week


async def need_by_municipality(
    session: AsyncSession, *, region_code: str, week: Week, view: CatalogueView
) -> list[dict[str, Any]]:
    """Requests created in the week by need × municipality, small counts masked."""
    sl = await week_slice(session, view, region_code, week)
    rows = await session.execute(
        select(R.need_id, R.municipality_id, func.count())
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .group_by(R.need_id, R.municipality_id)
        .order_by(R.need_id, R.municipality_id)
    )
    return [{"need": need, "municipality": mun, "requests": mask(n)} for need, mun, n in rows]


async def referral_rows(
    session: AsyncSession, *, region_code: str, week: Week, view: CatalogueView
) -> list[dict[str, Any]]:
    """Referrals created in the week, one row each, without any personal data.

    No description, phone, family or volunteer ids: only what the referral is about, where,
    who handles it and when things happened.
    """
    sl = await week_slice(session, view, region_code, week)
    rows = await session.execute(
        select(
            R.id,
            R.created_at,
            R.need_id,
            R.municipality_id,
            R.organization_id,
            R.status,
            R.accepted_at,
            R.resolved_at,
            R.closed_at,
            minutes_between(R.created_at, R.accepted_at),
        )
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .order_by(R.id)
        .limit(REFERRAL_ROWS_LIMIT)
    )
    return [
        {
            "id": rid,
            "created_at": created,
            "need": need,
            "municipality": mun,
            "organization": org,
            "status": status,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "closed_at": closed,
            "minutes_to_accept": as_minutes(minutes),
        }
        for rid, created, need, mun, org, status, accepted, resolved, closed, minutes in (rows)
    ]
