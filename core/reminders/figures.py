"""What plans and reminders show the region's manager: the digest's `plans` section.

Counts for one week [start, end) of a region: reminders sent and acted on (a plan step for the
reminder's measure marked after it), the measures most often put in a plan and most often
refused, and where (municipality) families say they were refused. Families are counted by the
region they live in now; a municipality with fewer than 3 refusals shows "<3", as the digest
does for requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import escape
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.texts import Translator
from db import models
from db.enums import PlanStatus

TOP = 5
SMALL_COUNT = 3
SMALL_LABEL = "<3"

P = models.PlanItem
RS = models.ReminderSent
U = models.User


def _in(column: Any, start: dt.datetime, end: dt.datetime) -> Any:
    return and_(column >= start, column < end)


async def _top(session: AsyncSession, region_code: str, condition: Any) -> list[dict[str, Any]]:
    count = func.count()
    rows = await session.execute(
        select(P.measure_id, count)
        .join(U, U.id == P.user_id)
        .where(U.region_code == region_code, condition)
        .group_by(P.measure_id)
        .order_by(count.desc(), P.measure_id)
        .limit(TOP)
    )
    return [{"id": measure_id, "count": n} for measure_id, n in rows]


async def plan_figures(
    session: AsyncSession, region_code: str, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    acted = exists().where(
        P.user_id == RS.user_id, P.measure_id == RS.measure_id, P.status_at >= RS.sent_at
    )
    by_kind = dict(
        (
            await session.execute(
                select(RS.kind, func.count())
                .where(RS.region_code == region_code, _in(RS.sent_at, start, end))
                .group_by(RS.kind)
                .order_by(RS.kind)
            )
        ).all()
    )
    acted_on = await session.scalar(
        select(func.count())
        .select_from(RS)
        .where(RS.region_code == region_code, _in(RS.sent_at, start, end), acted)
    )
    refused = and_(P.status == PlanStatus.REFUSED, _in(P.status_at, start, end))
    places = list(
        await session.execute(
            select(U.municipality_id, func.count())
            .select_from(P)
            .join(U, U.id == P.user_id)
            .where(U.region_code == region_code, refused)
            .group_by(U.municipality_id)
        )
    )
    # Small counts are not ranked among themselves: their order would tell 1 from 2.
    places.sort(key=lambda row: (-row[1] if row[1] >= SMALL_COUNT else 0, row[0] or "~"))
    return {
        "reminders_sent": sum(by_kind.values()),
        "reminders_acted_on": int(acted_on or 0),
        "reminders_by_kind": by_kind,
        "most_planned": await _top(session, region_code, _in(P.created_at, start, end)),
        "most_refused": await _top(session, region_code, refused),
        "refused_by_municipality": [
            {"municipality": mun, "count": n if n >= SMALL_COUNT else SMALL_LABEL}
            for mun, n in places
        ],
    }


def plan_lines(
    plans: dict[str, Any] | None,
    t: Translator,
    measure_name: Callable[[str], str],
    municipality_name: Callable[[str | None], str],
) -> list[list[str]]:
    """The digest message's section (none for a digest built before plans existed)."""
    if not plans:
        return []
    lines = [
        t("digest_plans.section"),
        t(
            "digest_plans.reminders",
            sent=t.number(plans["reminders_sent"]),
            acted=t.number(plans["reminders_acted_on"]),
        ),
    ]
    for key in ("most_planned", "most_refused"):
        if plans[key]:
            lines.append(t(f"digest_plans.{key}"))
            lines += [
                t("digest_plans.item", name=escape(measure_name(row["id"])), count=row["count"])
                for row in plans[key]
            ]
    if plans["refused_by_municipality"]:
        lines.append(t("digest_plans.refused_where"))
        lines += [
            t(
                "digest_plans.item",
                name=escape(municipality_name(row["municipality"])),
                count=row["count"],
            )
            for row in plans["refused_by_municipality"][:TOP]
        ]
    return [lines]
