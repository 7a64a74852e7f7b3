"""New help: a catalogue change that makes a measure fit a family is told to it once.

The loader (`content load`) and a manager's import call `announce_new_help` in their own
transaction, after writing and before committing, with the measures as they were before. A
measure counts as new help for a family when its verdict for the family's saved profile is now
eligible or maybe and was not before (the measure did not exist, was inactive, or ruled the
family out). Each (family, measure, content version) is told once; a family hears about all
of a change's measures in one message. Only families with the reminders consent who did not
mute this kind, and not about measures already in their plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.catalogue import schema
from core.clock import Clock
from core.reminders.consent import muted_kinds
from core.reminders.job import DEFAULT_TIMEZONE, reminder_families
from core.reminders.kinds import OUTBOX_KIND_PREFIX, ReminderKind, daytime_not_before
from core.screener import FamilyProfile, Verdict, applies_to_region, evaluate
from core.search.discovery import dated_profile
from db import models

log = logging.getLogger(__name__)

HASH_IN_KEY = 16


@dataclass(frozen=True)
class _Region:
    timezone: str
    minimum: schema.SubsistenceMinimum | None


async def active_measures(session: AsyncSession) -> dict[str, schema.Measure]:
    """The active measures as the database holds them now: the "before" of a change."""
    rows = await session.scalars(select(models.Measure).where(models.Measure.active))
    return {row.id: schema.Measure.model_validate(row.data) for row in rows}


async def _changed(
    session: AsyncSession, before: Mapping[str, schema.Measure]
) -> dict[str, tuple[schema.Measure, str]]:
    """Active measures now added or different from `before`, with their content version."""
    rows = await session.execute(
        select(models.Measure.id, models.Measure.data, models.Measure.content_hash).where(
            models.Measure.active
        )
    )
    changed = {}
    for measure_id, data, digest in rows:
        measure = schema.Measure.model_validate(data)
        if before.get(measure_id) != measure:
            changed[measure_id] = (measure, str(digest)[:HASH_IN_KEY])
    return changed


async def _regions(session: AsyncSession) -> dict[str, _Region]:
    regions = {}
    for row in await session.scalars(select(models.Region)):
        minimum = row.data.get("subsistence_minimum")
        regions[row.code] = _Region(
            row.timezone,
            schema.SubsistenceMinimum.model_validate(minimum) if minimum else None,
        )
    return regions


def _fits(verdict: Verdict) -> bool:
    return verdict is not Verdict.NOT_ELIGIBLE


async def announce_new_help(
    session: AsyncSession, clock: Clock, before: Mapping[str, schema.Measure]
) -> int:
    """Queue one message per family a change made new help for; the caller commits.

    Returns the number of families told.
    """
    changed = await _changed(session, before)
    if not changed:
        return 0
    regions = await _regions(session)
    now = clock.now()
    families = await session.execute(
        reminder_families()
        .add_columns(models.FamilyProfile.data, models.FamilyProfile.updated_at)
        .join(models.FamilyProfile, models.FamilyProfile.user_id == models.User.id)
        .order_by(models.User.id)
    )
    told = 0
    for user, data, saved_at in families:
        region = regions.get(user.region_code or "")
        minimum = region.minimum if region is not None else None
        timezone = region.timezone if region is not None else DEFAULT_TIMEZONE
        today = now.astimezone(ZoneInfo(timezone)).date()
        per_capita = minimum.per_capita if minimum is not None else None
        try:
            profile = FamilyProfile.model_validate(
                {**dated_profile(data, saved_at.date(), per_capita), "region": user.region_code}
            )
        except ValueError:
            continue
        fresh = await _new_for(session, user, profile, changed, before, minimum, today)
        if not fresh:
            continue
        for measure_id, version in fresh:
            session.add(
                models.ReminderSent(
                    user_id=user.id,
                    key=f"{ReminderKind.NEW_HELP}:{measure_id}:{version}",
                    kind=ReminderKind.NEW_HELP,
                    measure_id=measure_id,
                    region_code=user.region_code,
                    sent_at=now,
                )
            )
        outbox.notify(
            session,
            clock,
            chat_id=user.messenger_id,
            channel=user.channel,
            lang=user.language,
            kind=OUTBOX_KIND_PREFIX + ReminderKind.NEW_HELP,
            params={
                "measures": [
                    {
                        "id": measure_id,
                        "title": changed[measure_id][0].title,
                        "title_en": changed[measure_id][0].title_en,
                    }
                    for measure_id, _ in fresh
                ]
            },
            not_before=daytime_not_before(now, today, timezone),
        )
        told += 1
    if told:
        await session.flush()
        log.info("new help: %s families told about %s changed measures", told, len(changed))
    return told


async def _new_for(
    session: AsyncSession,
    user: models.User,
    profile: FamilyProfile,
    changed: Mapping[str, tuple[schema.Measure, str]],
    before: Mapping[str, schema.Measure],
    minimum: schema.SubsistenceMinimum | None,
    today: dt.date,
) -> list[tuple[str, str]]:
    """(measure id, version) of the changed measures that are new help for this family."""
    candidates = []
    for measure_id, (measure, version) in changed.items():
        if not applies_to_region(measure, user.region_code):
            continue
        if not _fits(evaluate(measure, profile, minimum, today).verdict):
            continue
        old = before.get(measure_id)
        if old is not None and _fits(evaluate(old, profile, minimum, today).verdict):
            continue  # it fitted before the change: nothing new for them
        candidates.append((measure_id, version))
    if not candidates:
        return []
    if ReminderKind.NEW_HELP in await muted_kinds(session, user.id):
        return []
    planned = set(
        await session.scalars(
            select(models.PlanItem.measure_id).where(models.PlanItem.user_id == user.id)
        )
    )
    told = set(
        await session.scalars(
            select(models.ReminderSent.key).where(
                models.ReminderSent.user_id == user.id,
                models.ReminderSent.kind == ReminderKind.NEW_HELP,
            )
        )
    )
    receiving = set(profile.receiving or [])
    return [
        (measure_id, version)
        for measure_id, version in candidates
        if measure_id not in planned
        and measure_id not in receiving
        and f"{ReminderKind.NEW_HELP}:{measure_id}:{version}" not in told
    ]
