"""SQL building blocks for the digest, dialect-neutral: a week's slice of a region, its
events, medians and minutes between two moments on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from db import models

R = models.Referral
E = models.ReferralEvent
F = models.Feedback
S = models.SearchLog
U = models.User


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


def week_events(sl: Slice, *actions: str, reason: bool = False) -> Subquery:
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


def median_select(values: Select[str | None, float], group: str | None = None) -> Select[Any]:
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


def as_minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def ratio_of(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def avg_of(value: Any) -> float | None:
    return None if value is None else float(value)
