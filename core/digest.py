"""The weekly digest of a region: every number is counted by the database, per ISO week.

A week is Monday 00:00 to the next Monday 00:00 in the region's timezone; its bounds are turned
into UTC before they reach SQL, so each query is an index range scan over that week's slice and
the cost does not grow with the years of history behind it. A week's counts are the events that
happened in it (PRODUCT.md §3): a referral created on Sunday and accepted on Monday counts as
created in one week and accepted in the next.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    func,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core import channel_stats, outbox
from core.catalogue import schema
from core.catalogue.active import CatalogueView
from db import models
from db.enums import OPEN_STATUSES, EventAction, FeedbackKind, ReasonCode, ReferralStatus

# Municipality counts under this are shown as "<3": a handful of requests from a small place
# could point at a family.
SMALL_COUNT = 3
SMALL_LABEL = "<3"
LOW_RATING = 2
LIST_LIMIT = 10
# A no-result query is shown only when this many different families typed it (152-FZ: a
# single family's words, a name among them, must not reach the manager).
NO_RESULT_MIN_FAMILIES = 3
LOW_RATINGS_LIMIT = 20
OVERDUE_LIMIT = 1000
REFERRAL_ROWS_LIMIT = 50_000
DEFAULT_SLA_ACCEPT_HOURS = 24.0
SEARCH_KINDS = ("search", "screening")
UNHELPFUL_VERDICTS = ("not_helpful", "hard_to_apply")
GOT_HELP_YES = "yes"

# The numeric keys that `previous_week` repeats, in the order the message shows them.
NUMERIC_KEYS: dict[str, tuple[str, ...]] = {
    "demand": ("new_families", "active_families", "searches", "searches_no_result"),
    "supply": (
        "referrals_created",
        "accepted",
        "resolved",
        "not_helped",
        "declined",
        "unrouted",
        "median_minutes_to_accept",
        "sla_breaches",
    ),
    "outcomes": ("feedback_count", "got_help_rate", "closed_loop_rate", "rating_avg"),
}
COUNTED_ACTIONS = (
    EventAction.OFFERED,
    EventAction.ACCEPTED,
    EventAction.RESOLVED,
    EventAction.NOT_HELPED,
    EventAction.DECLINED,
    EventAction.UNROUTED,
    EventAction.SLA_BREACH,
)
ACTION_KEYS = {
    EventAction.ACCEPTED: "accepted",
    EventAction.RESOLVED: "resolved",
    EventAction.NOT_HELPED: "not_helped",
    EventAction.DECLINED: "declined",
    EventAction.UNROUTED: "unrouted",
    EventAction.SLA_BREACH: "sla_breaches",
}

_WEEK = re.compile(r"(\d{4})-W(\d{2})")

R = models.Referral
E = models.ReferralEvent
F = models.Feedback
S = models.SearchLog
U = models.User


# --- weeks --------------------------------------------------------------------------------


class WeekError(ValueError):
    """A week argument that cannot be used; `code` picks the message shown to a person."""

    def __init__(self, code: Literal["format", "range", "future"], message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-W{self.number:02d}"

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    def bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """Local Monday 00:00 and the next Monday 00:00, as aware datetimes in `tz`."""
        start = dt.datetime.combine(self.monday, dt.time(0), tzinfo=tz)
        end = dt.datetime.combine(self.monday + dt.timedelta(days=7), dt.time(0), tzinfo=tz)
        return start, end

    def shift(self, weeks: int) -> Week:
        return week_of(self.monday + dt.timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


def week_of(day: dt.date) -> Week:
    iso = day.isocalendar()
    return Week(iso.year, iso.week)


def parse_week(text: str) -> Week:
    """ "2026-W47" → Week; anything else raises WeekError with a message that says why."""
    match = _WEEK.fullmatch(text.strip())
    if match is None:
        raise WeekError("format", f"week {text!r} is not in the form YYYY-Www, e.g. 2026-W47")
    year, number = int(match[1]), int(match[2])
    if not 2000 <= year <= 2100:
        raise WeekError("range", f"week {text!r}: year must be between 2000 and 2100")
    try:
        dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise WeekError("range", f"week {text!r}: {year} has no ISO week {number}") from None
    return Week(year, number)


def region_timezone(view: CatalogueView, region_code: str) -> ZoneInfo:
    region = view.regions.get(region_code)
    if region is None:
        known = ", ".join(sorted(view.regions))
        raise ValueError(f"unknown region {region_code!r}; known: {known}")
    return ZoneInfo(region.timezone)


def current_week(now: dt.datetime, tz: ZoneInfo) -> Week:
    return week_of(now.astimezone(tz).date())


def last_completed_week(now: dt.datetime, tz: ZoneInfo) -> Week:
    return current_week(now, tz).shift(-1)


def resolve_week(text: str | None, *, now: dt.datetime, tz: ZoneInfo) -> Week:
    """The week asked for (not one that has not started yet), or the last completed one."""
    if text is None or not text.strip():
        return last_completed_week(now, tz)
    week = parse_week(text)
    if week > current_week(now, tz):
        raise WeekError("future", f"week {week.label} has not started yet")
    return week


# --- SQL helpers ----------------------------------------------------------------------------


class minutes_between(FunctionElement[float]):
    """Minutes from the first timestamp to the second, computed by the database."""

    type = Float()
    name = "minutes_between"
    inherit_cache = True


@compiles(minutes_between, "sqlite")
def _minutes_sqlite(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 1440.0)"


@compiles(minutes_between, "postgresql")
def _minutes_postgresql(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)"


@dataclass(frozen=True)
class Slice:
    """One region's week in UTC, [start, end), and every organisation the region has had."""

    region_code: str
    start: dt.datetime
    end: dt.datetime
    orgs: tuple[str, ...]

    def of(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)


def _week_events(sl: Slice, *actions: str, reason: bool = False) -> Subquery:
    """The region's referral events of the week: action, org, rid, at [, reason].

    Events carry no region of their own. Those about an organisation are found through the
    region's organisations (routing never crosses regions), by an index range per action and
    organisation that never touches another region's rows; the few without an organisation
    (say, a request no organisation could take) go through their referral's region.
    """
    columns: list[Any] = [
        E.action.label("action"),
        E.organization_id.label("org"),
        E.referral_id.label("rid"),
        E.at.label("at"),
    ]
    if reason:
        columns.append(E.reason.label("reason"))
    by_org = select(*columns).where(
        E.action.in_(actions), E.organization_id.in_(sl.orgs), sl.of(E.at)
    )
    # A lookup per event (a correlated subquery, not a join): these rows are few, and a join
    # tempts PostgreSQL into hashing every referral of the region.
    region_of = select(R.region_code).where(R.id == E.referral_id).scalar_subquery()
    without_org = select(*columns).where(
        E.action.in_(actions),
        E.organization_id.is_(None),
        sl.of(E.at),
        region_of == sl.region_code,
    )
    return union_all(by_org, without_org).subquery()


def _median(values: Select[str | None, float], group: str | None = None) -> Select[Any]:
    """Median of column "m" per `group` (or overall), by window functions on both dialects."""
    sub = values.subquery()
    partition = [sub.c[group]] if group else []
    ranked = select(
        *partition,
        sub.c.m,
        func.row_number().over(partition_by=partition, order_by=sub.c.m).label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery()
    middle = or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    grouped = [ranked.c[group]] if group else []
    return select(*grouped, func.avg(ranked.c.m)).where(middle).group_by(*grouped)


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _avg(value: Any) -> float | None:
    return None if value is None else float(value)


# --- numbers (this week and the previous one) ----------------------------------------------


async def _event_counts(session: AsyncSession, sl: Slice) -> dict[tuple[str, str | None], int]:
    ev = _week_events(sl, *COUNTED_ACTIONS)
    rows = await session.execute(
        select(ev.c.action, ev.c.org, func.count()).group_by(ev.c.action, ev.c.org)
    )
    return {(action, org): count for action, org, count in rows}


def _accept_minutes(sl: Slice) -> Select[str | None, float]:
    """Minutes from creation to acceptance of the referrals accepted in the week.

    A referral is accepted once, and `accepted_at` is stamped with its `accepted` event, so
    the referral row alone answers this (an index-only range, no join per event).
    """
    return select(
        R.organization_id.label("org"),
        minutes_between(R.created_at, R.accepted_at).label("m"),
    ).where(R.region_code == sl.region_code, sl.of(R.accepted_at))


async def _numbers(
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
    median = await session.scalar(_median(_accept_minutes(sl)))
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
    loop = _week_events(sl, EventAction.CONFIRMED, EventAction.RESOLVED, EventAction.NOT_HELPED)
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
    closed_loop = _ratio(confirmed, finished)
    numbers: dict[str, Any] = {
        "new_families": new_families or 0,
        "active_families": active_families or 0,
        "searches": searches,
        "searches_no_result": no_result,
        "referrals_created": created or 0,
        **{key: by_action[action] for action, key in ACTION_KEYS.items()},
        "median_minutes_to_accept": _minutes(median),
        "feedback_count": fb_count,
        "got_help_rate": _ratio(yes, answered),
        # Confirmations of the week can answer resolutions of an earlier week: keep it a rate.
        "closed_loop_rate": None if closed_loop is None else min(closed_loop, 1.0),
        "rating_avg": _avg(rating),
    }
    return numbers, counts


# --- lists (this week only) ----------------------------------------------------------------


async def _top_needs(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    count = func.count().label("n")
    rows = await session.execute(
        select(R.need_id, count)
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .group_by(R.need_id)
        .order_by(count.desc(), R.need_id)
    )
    return [{"need": need, "count": n} for need, n in rows]


async def _no_result_queries(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
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


def mask(count: int) -> int | str:
    return count if count >= SMALL_COUNT else SMALL_LABEL


async def _by_municipality(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(R.municipality_id, func.count())
        .where(R.region_code == sl.region_code, sl.of(R.created_at))
        .group_by(R.municipality_id)
    )
    counted = list(rows)
    # Small counts are not ranked among themselves: their order would tell 1 from 2.
    counted.sort(key=lambda row: (-row[1] if row[1] >= SMALL_COUNT else 0, row[0] or "~"))
    return [{"municipality": mun, "requests": mask(n)} for mun, n in counted]


async def _organizations(
    session: AsyncSession, sl: Slice, counts: dict[tuple[str, str | None], int]
) -> list[dict[str, Any]]:
    medians: dict[str | None, Any] = dict(
        (await session.execute(_median(_accept_minutes(sl), group="org"))).all()
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
            "median_minutes_to_accept": _minutes(medians.get(org)),
            "rating_avg": _avg(ratings.get(org)),
        }
        for org in org_ids
    ]
    table.sort(key=lambda row: (-row["received"], -row["accepted"], row["id"]))
    return table


async def _not_helped_reasons(session: AsyncSession, sl: Slice) -> dict[str, int]:
    ev = _week_events(sl, EventAction.NOT_HELPED, reason=True)
    reason = func.coalesce(ev.c.reason, ReasonCode.OTHER.value)
    rows = await session.execute(
        select(reason, func.count()).group_by(reason).order_by(func.count().desc(), reason)
    )
    return {code: n for code, n in rows}


async def _low_ratings(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
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


async def _unhelpful_measures(session: AsyncSession, sl: Slice) -> list[dict[str, Any]]:
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


def _stale_measures(view: CatalogueView, region_code: str, week_end: dt.date) -> list[str]:
    """Measures nobody compared with an official source, or did more than 180 days ago."""
    return sorted(
        m.id
        for m in view.measures_for_region(region_code)
        if m.check_state(week_end) is not schema.CheckState.FRESH
    )


async def _overdue(
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


async def _silent_organizations(
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


# --- the digest ----------------------------------------------------------------------------


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

    numbers, counts = await _numbers(session, sl)
    previous, _ = await _numbers(session, before)
    start_local, end_local = chosen.bounds(tz)
    return {
        "region": region_code,
        "week": chosen.label,
        "period": {"start": start_local.isoformat(), "end": end_local.isoformat()},
        "demand": {
            **{key: numbers[key] for key in NUMERIC_KEYS["demand"]},
            "top_needs": await _top_needs(session, sl),
            "no_result_queries": await _no_result_queries(session, sl),
            "by_municipality": await _by_municipality(session, sl),
            # Issue 16: new families and requests by messenger (telegram, max).
            "by_channel": await channel_stats.week_by_channel(
                session, region_code=region_code, start=sl.start, end=sl.end
            ),
        },
        "supply": {
            **{key: numbers[key] for key in NUMERIC_KEYS["supply"]},
            "organizations": await _organizations(session, sl, counts),
        },
        "outcomes": {
            **{key: numbers[key] for key in NUMERIC_KEYS["outcomes"]},
            "not_helped_reasons": await _not_helped_reasons(session, sl),
            "low_ratings": await _low_ratings(session, sl),
        },
        "catalogue": {
            "stale_measures": _stale_measures(view, region_code, end_local.date()),
            "unhelpful_measures": await _unhelpful_measures(session, sl),
        },
        "attention": {
            "overdue_referrals": await _overdue(session, sl, now, sla_accept),
            "silent_organizations": await _silent_organizations(session, sl, now, sla_accept),
            # Not in the PRODUCT.md keys (added, none changed): notifications the outbox gave
            # up on during the week after OUTBOX_GIVE_UP_HOURS of Telegram failures.
            "undelivered_notifications": await outbox.given_up_count(
                session, region_code=region_code, start=sl.start, end=sl.end
            ),
        },
        "previous_week": {"week": chosen.shift(-1).label, **previous},
    }


def flat_numbers(digest: dict[str, Any]) -> dict[str, Any]:
    """This week's numeric keys, flat, in the shape of `previous_week`."""
    return {key: digest[section][key] for section, keys in NUMERIC_KEYS.items() for key in keys}


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
        numbers, _ = await _numbers(session, sl)
        previous, _ = await _numbers(
            session, await week_slice(session, view, code, chosen.shift(-1))
        )
        overdue = await _overdue(session, sl, now, sla_accept)
        regions.append(
            {
                "region": code,
                **numbers,
                "overdue_referrals": len(overdue),
                "previous_week": previous,
            }
        )
    return {"week": chosen.label, "regions": regions}


# --- details for the workbook ----------------------------------------------------------------


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
            "minutes_to_accept": _minutes(minutes),
        }
        for rid, created, need, mun, org, status, accepted, resolved, closed, minutes in (rows)
    ]
