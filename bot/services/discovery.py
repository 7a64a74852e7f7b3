"""Discovery use cases: searching with a gap log, the family profile, measure feedback."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services.catalogue import CatalogueView
from bot.services.screener import FamilyProfile
from bot.services.search_index import Hit
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
    """Search and log it; the log row is the digest's demand and gap signal."""
    hits = view.index.search(query, region_code, SEARCH_LIMIT)
    closest = [] if hits else view.index.closest_needs(query)
    await _log(
        session,
        {
            "at": clock.now(),
            "region_code": region_code,
            "kind": kind,
            "query": " ".join(query.split())[:QUERY_LOG_LIMIT],
            "results": len(hits),
            "user_id": user.id if user is not None and user.consent_version else None,
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


async def load_profile(session: AsyncSession, user: models.User | None) -> FamilyProfile | None:
    if user is None or not user.consent_version:
        return None
    row = await session.get(models.FamilyProfile, user.id)
    if row is None:
        return None
    return FamilyProfile.model_validate(row.data)


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
