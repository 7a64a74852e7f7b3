"""A family's plan («Мой план»): the measures it marked, where it stands, the documents ticked.

Only a family that consented has a plan: a plan item is personal data (it says what the family
applies for and what it was refused), so an anonymous visitor is asked to consent first and
nothing is stored before. Items go with the `users` row (`/forget` erases them by the cascade)
and hold only what the family chose on a button: a status and ticked document positions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.catalogue.schema import Measure
from core.clock import Clock
from core.screener import MeasureVerdict, Verdict
from db import models
from db.enums import PlanStatus

# The order a plan shows its groups in: what is still to do first, what is settled last.
STATUS_ORDER = (
    PlanStatus.PLANNED,
    PlanStatus.APPLIED,
    PlanStatus.RECEIVING,
    PlanStatus.REFUSED,
    PlanStatus.NOT_NEEDED,
)
# Statuses whose documents still matter: the checklist is shown and can be ticked.
CHECKLIST_STATUSES = frozenset({PlanStatus.PLANNED, PlanStatus.APPLIED})
# A plan holds at most this many measures: more than the catalogue offers any one family.
MAX_ITEMS = 100


class PlanOutcome(StrEnum):
    OK = "ok"
    NO_CONSENT = "no_consent"  # anonymous: nothing is stored
    UNKNOWN_MEASURE = "unknown_measure"  # not (or no longer) in the catalogue
    NOT_IN_PLAN = "not_in_plan"  # ticking a document of a measure the family has not marked
    BAD_DOCUMENT = "bad_document"  # no such position in the measure's documents
    CLOSED = "closed"  # the measure's checklist is not open in this status
    FULL = "full"


@dataclass(frozen=True)
class PlanChange:
    outcome: PlanOutcome
    item: models.PlanItem | None = None


def _consented(user: models.User | None) -> bool:
    return user is not None and user.consent_version is not None


async def plan_items(session: AsyncSession, user_id: int) -> list[models.PlanItem]:
    """The family's plan, oldest mark first (the order the family built it in)."""
    return list(
        await session.scalars(
            select(models.PlanItem)
            .where(models.PlanItem.user_id == user_id)
            .order_by(models.PlanItem.created_at, models.PlanItem.id)
        )
    )


async def statuses(session: AsyncSession, user: models.User | None) -> dict[str, PlanStatus]:
    """Measure id -> the family's status; empty for an anonymous visitor."""
    if not _consented(user):
        return {}
    assert user is not None
    rows = await session.execute(
        select(models.PlanItem.measure_id, models.PlanItem.status).where(
            models.PlanItem.user_id == user.id
        )
    )
    return {measure_id: PlanStatus(status) for measure_id, status in rows}


async def _item(session: AsyncSession, user_id: int, measure_id: str) -> models.PlanItem | None:
    found: models.PlanItem | None = await session.scalar(
        select(models.PlanItem).where(
            models.PlanItem.user_id == user_id, models.PlanItem.measure_id == measure_id
        )
    )
    return found


async def set_status(
    session: AsyncSession,
    clock: Clock,
    user: models.User | None,
    view: CatalogueView,
    measure_id: str,
    status: PlanStatus,
) -> PlanChange:
    """Mark a measure (or change its mark). Ticked documents stay when the status changes:
    a family that applied still holds the papers it gathered."""
    if not _consented(user):
        return PlanChange(PlanOutcome.NO_CONSENT)
    assert user is not None
    if measure_id not in view.measures:
        return PlanChange(PlanOutcome.UNKNOWN_MEASURE)
    now = clock.now()
    user_id = user.id  # a rollback below expires the user row: keep its id at hand
    item = await _item(session, user_id, measure_id)
    if item is None:
        held = await session.scalar(
            select(func.count())
            .select_from(models.PlanItem)
            .where(models.PlanItem.user_id == user_id)
        )
        if (held or 0) >= MAX_ITEMS:
            return PlanChange(PlanOutcome.FULL)
        item = models.PlanItem(
            user_id=user_id,
            measure_id=measure_id,
            status=status.value,
            created_at=now,
            status_at=now,
            documents_done=[],
        )
        session.add(item)
        try:
            await session.commit()
        except IntegrityError:
            # The same button pressed twice at once: the other press made the row.
            await session.rollback()
            item = await _item(session, user_id, measure_id)
            if item is None:
                raise
        else:
            return PlanChange(PlanOutcome.OK, item)
    if item.status != status.value:
        item.status = status.value
        item.status_at = now
    await session.commit()
    return PlanChange(PlanOutcome.OK, item)


async def toggle_document(
    session: AsyncSession,
    user: models.User | None,
    view: CatalogueView,
    measure_id: str,
    position: int,
) -> PlanChange:
    """Tick a document of a planned measure, or untick it."""
    if not _consented(user):
        return PlanChange(PlanOutcome.NO_CONSENT)
    assert user is not None
    measure = view.measures.get(measure_id)
    if measure is None:
        return PlanChange(PlanOutcome.UNKNOWN_MEASURE)
    item = await _item(session, user.id, measure_id)
    if item is None:
        return PlanChange(PlanOutcome.NOT_IN_PLAN)
    if not 0 <= position < len(measure.documents):
        return PlanChange(PlanOutcome.BAD_DOCUMENT)
    if PlanStatus(item.status) not in CHECKLIST_STATUSES:
        return PlanChange(PlanOutcome.CLOSED, item)
    key = str(position)
    done = list(item.documents_done)
    # A new list, not an in-place change: the JSON column notices assignment only.
    item.documents_done = [d for d in done if d != key] if key in done else sorted([*done, key])
    await session.commit()
    return PlanChange(PlanOutcome.OK, item)


def ticked(item: models.PlanItem, measure: Measure) -> set[int]:
    """Ticked positions that still exist in the measure's checklist (an edit may shorten it)."""
    positions = {int(d) for d in item.documents_done if str(d).isdigit()}
    return {p for p in positions if p < len(measure.documents)}


def documents(measure: Measure, lang: str) -> list[str]:
    """The checklist in the reader's language; positions are those of the Russian list."""
    english = measure.documents_en
    if lang != "ru" and len(english) == len(measure.documents):
        return list(english)
    return list(measure.documents)


@dataclass(frozen=True)
class SplitResults:
    """Screener results without what the family already settled («уже получаете»)."""

    offered: list[MeasureVerdict]
    receiving: list[str]  # measure ids the family receives, in the screener's order


def split_results(
    verdicts: Sequence[MeasureVerdict], marks: dict[str, PlanStatus]
) -> SplitResults:
    """Stop offering what the family already receives: those measures are shown apart.

    A measure the family marked "receiving" needs no verdict (it may well read "not eligible"
    for a benefit kept from before the rules changed), so it leaves the list whatever the
    screener said; the other marks stay on their lines.
    """
    offered: list[MeasureVerdict] = []
    receiving: list[str] = []
    for verdict in verdicts:
        if marks.get(verdict.measure_id) is PlanStatus.RECEIVING:
            receiving.append(verdict.measure_id)
        else:
            offered.append(verdict)
    return SplitResults(offered, receiving)


def fitting(verdicts: Iterable[MeasureVerdict]) -> list[MeasureVerdict]:
    return [v for v in verdicts if v.verdict is not Verdict.NOT_ELIGIBLE]


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_plan(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """The plan as /mydata shows it: exactly what is stored, nothing derived."""
    return [
        {
            "measure": item.measure_id,
            "status": item.status,
            "documents_done": list(item.documents_done),
            "created_at": _when(item.created_at),
            "status_at": _when(item.status_at),
        }
        for item in await plan_items(session, user_id)
    ]
