"""Discovery use cases: searching with a gap log, the family profile, measure feedback."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.clock import Clock
from core.redact import redact_query
from core.screener import FamilyProfile
from core.search import Hit
from db import models
from db.base import Base
from db.enums import FeedbackKind

QUERY_LOG_LIMIT = 500
SEARCH_LIMIT = 8

# session.info key: where a bot update collects statistics rows (the search log) to be written
# together with the update's own record when it finishes (bot.middlewares.dedup), instead of a
# commit of their own before the answer. They are still committed before the update counts as
# handled; only rows nobody is told about go this way, never what a person submitted.
DEFERRED_ROWS = "deferred_rows"
DeferredRow = tuple[type[Base], dict[str, Any]]


async def _log(session: AsyncSession, row: dict[str, Any]) -> None:
    deferred: list[DeferredRow] | None = session.info.get(DEFERRED_ROWS)
    if deferred is not None:
        deferred.append((models.SearchLog, row))
        return
    session.add(models.SearchLog(**row))
    await session.commit()


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    # Filled only when nothing was found: the needs the query is nearest to.
    closest_needs: list[str]

    @property
    def exact(self) -> bool:
        """The best hit answers what was asked; otherwise the hits are only the nearest."""
        return bool(self.hits) and self.hits[0].exact


async def search(
    session: AsyncSession,
    clock: Clock,
    view: CatalogueView,
    *,
    query: str,
    region_code: str | None,
    user: models.User | None,
    kind: str = "search",
) -> SearchOutcome:
    """Search and log it; the log row is the digest's demand and gap signal.

    The text is kept only from a family who consented, and only without names and numbers
    (core.redact); otherwise just the fact of a search and its result count.
    """
    hits = view.index.search(query, region_code, SEARCH_LIMIT)
    closest = [] if hits else view.index.closest_needs(query)
    consented = user is not None and bool(user.consent_version)
    await _log(
        session,
        {
            "at": clock.now(),
            "region_code": region_code,
            "kind": kind,
            "query": redact_query(query, QUERY_LOG_LIMIT) if consented else "",
            "results": len(hits),
            "user_id": user.id if user is not None and consented else None,
        },
    )
    return SearchOutcome(hits, closest)


async def log_screening(
    session: AsyncSession,
    clock: Clock,
    *,
    region_code: str | None,
    user: models.User | None,
    found: int,
) -> None:
    """A screening that found nothing is as much a gap signal as an empty search."""
    await _log(
        session,
        {
            "at": clock.now(),
            "region_code": region_code,
            "kind": "screening",
            "query": "",
            "results": found,
            "user_id": user.id if user is not None and user.consent_version else None,
        },
    )


async def load_profile(
    session: AsyncSession,
    user: models.User | None,
    view: CatalogueView | None = None,
    region: str | None = None,
) -> FamilyProfile | None:
    """The saved answers; with the catalogue and the region an old income button point is
    read back as its range (the point was a multiple of the region's ПМ)."""
    if user is None or not user.consent_version:
        return None
    row = await session.get(models.FamilyProfile, user.id)
    if row is None:
        return None
    region_obj = view.regions.get(region or "") if view is not None else None
    per_capita = region_obj.subsistence_minimum.per_capita if region_obj is not None else None
    return FamilyProfile.model_validate(dated_profile(row.data, row.updated_at.date(), per_capita))


# Points the /find age buttons stored before they were ranges: read back as the ranges.
OLD_AGE_POINTS: dict[float, dict[str, Any]] = {
    0.5: {"age_range": [0, 1]},
    1.2: {"age_range": [1, 1.5]},
    2.0: {"age_range": [1.5, 3]},
    5.0: {"age_range": [3, 7]},
    12.0: {"age_range": [7, 17]},
    17.5: {"age_range": [17, 18]},
    20.0: {"age_range": [18, 23], "full_time_student": True},
    25.0: {"age_range": [23, 60]},
}


# Points the /find buttons for the pregnancy term, the mother's age and the income (in ПМ)
# stored before they were ranges: read back as the ranges the buttons meant.
OLD_WEEK_POINTS: dict[int, list[int]] = {8: [1, 11], 17: [12, 22], 26: [23, 30], 34: [31, 42]}
OLD_MOTHER_POINTS: dict[int, list[int]] = {22: [10, 24], 30: [25, 35], 40: [36, 80]}
OLD_INCOME_POINTS: dict[float, list[float | None]] = {0.8: [0, 1], 1.5: [1, 2], 2.5: [2, None]}


def _ranged(data: dict[str, Any], per_capita: float | None) -> dict[str, Any]:
    """Old button points (pregnancy term, mother's age, income) as their ranges. Only the
    buttons gave the term and the mother's age; a typed income is kept unless it equals a
    button point of today's regional ПМ (then the range holds it anyway)."""
    data = dict(data)
    weeks = data.get("pregnancy_weeks")
    if "pregnancy_weeks_range" not in data and weeks in OLD_WEEK_POINTS:
        data["pregnancy_weeks_range"] = OLD_WEEK_POINTS[data.pop("pregnancy_weeks")]
    mother = data.get("mother_age")
    if "mother_age_range" not in data and mother in OLD_MOTHER_POINTS:
        data["mother_age_range"] = OLD_MOTHER_POINTS[data.pop("mother_age")]
    income = data.get("income_per_person")
    if per_capita and "income_range_pm" not in data and isinstance(income, int | float):
        for point, span in OLD_INCOME_POINTS.items():
            if income == round(point * per_capita):
                del data["income_per_person"]
                data["income_range_pm"] = span
                break
    return data


def dated_profile(
    data: dict[str, Any], saved_on: dt.date, per_capita: float | None = None
) -> dict[str, Any]:
    """A profile saved before ages were dated: its ages and weeks hold on the day it was
    saved (as_of), and the old button points become the ranges the buttons meant."""
    data = _ranged(data, per_capita)
    if "as_of" in data:
        return data
    children = []
    for child in data.get("children") or []:
        age = child.get("age_years") if isinstance(child, dict) else None
        if isinstance(age, int | float) and float(age) in OLD_AGE_POINTS:
            rest = {k: v for k, v in child.items() if k != "age_years"}
            child = {**rest, **OLD_AGE_POINTS[float(age)]}
        children.append(child)
    dated = {**data, "as_of": saved_on.isoformat()}
    if "children" in data:
        dated["children"] = children
    return dated


async def save_profile(
    session: AsyncSession, clock: Clock, user: models.User | None, profile: FamilyProfile
) -> bool:
    """Keep the answers for next time, only for a person who consented. True if saved."""
    if user is None or not user.consent_version:
        return False
    data = profile.model_dump(mode="json", exclude_none=True, exclude={"region"})
    row = await session.get(models.FamilyProfile, user.id)
    if row is None:
        session.add(models.FamilyProfile(user_id=user.id, data=data, updated_at=clock.now()))
    else:
        row.data = data
        row.updated_at = clock.now()
    await session.commit()
    return True


class MeasureVerdictFeedback(StrEnum):
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    HARD_TO_APPLY = "hard_to_apply"


class MeasureFeedbackReason(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    DOCUMENTS = "documents"
    REFUSED = "refused"
    QUEUE = "queue"
    UNCLEAR = "unclear"


async def record_measure_feedback(
    session: AsyncSession,
    clock: Clock,
    *,
    measure_id: str,
    verdict: MeasureVerdictFeedback,
    region_code: str | None,
    user: models.User | None,
) -> int:
    row = models.Feedback(
        kind=FeedbackKind.MEASURE,
        measure_id=measure_id,
        verdict=verdict,
        region_code=region_code,
        user_id=user.id if user is not None and user.consent_version else None,
        created_at=clock.now(),
    )
    session.add(row)
    await session.commit()
    return row.id


async def add_feedback_reason(
    session: AsyncSession, *, feedback_id: int, measure_id: str, reason: MeasureFeedbackReason
) -> bool:
    """Attach a reason to an answer just given (the handler knows which from its dialog state)."""
    row = await session.get(models.Feedback, feedback_id)
    if row is None or row.measure_id != measure_id or row.reason is not None:
        return False
    row.reason = reason
    await session.commit()
    return True


async def report_gap(
    session: AsyncSession,
    clock: Clock,
    *,
    need_id: str,
    region_code: str | None,
    user: models.User | None,
    comment: str | None,
) -> None:
    """A family says a need went unanswered: the digest's most direct gap signal."""
    consented = user is not None and user.consent_version
    session.add(
        models.Feedback(
            kind=FeedbackKind.GAP,
            need_id=need_id,
            region_code=region_code,
            user_id=user.id if consented and user is not None else None,
            # Free text is personal data: kept only with consent.
            comment=(comment or "")[:1000] or None if consented else None,
            created_at=clock.now(),
        )
    )
    await session.commit()
