"""The daily reminder job: for each family that opted in, queue what is due, each once.

A family is handled in a transaction of its own: its `reminders_sent` rows and its outbox rows
are committed together, so a crash never leaves a reminder recorded but not queued (or queued
twice). Two runs meeting on the same family collide on the unique (user, key): the loser rolls
back and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import outbox
from core.catalogue.active import CatalogueView
from core.clock import Clock
from core.plan.deadlines import deadline_of
from core.reminders.consent import muted_kinds
from core.reminders.dates import Due, PlanDeadline, PlanStep, due_reminders
from core.reminders.kinds import (
    FAMILY_TAX_PAYMENT,
    OUTBOX_KIND_PREFIX,
    ReminderKind,
    daytime_not_before,
)
from core.screener import FamilyProfile, Verdict, evaluate
from core.search.discovery import dated_profile
from db import models
from db.enums import ConsentKind, PlanStatus

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Europe/Moscow"
# One reminder of the 12th week per pregnancy: a profile saved again with a narrower term
# would give the pregnancy another key, so a second one within this time is not sent.
PREGNANCY_REPEAT_AFTER = dt.timedelta(days=300)
BATCH = 500
TAX_MIN_CHILDREN = 2
ONLY_IF_IT_FITS = frozenset({ReminderKind.PREGNANCY_12W})

Deadlines = Callable[
    [CatalogueView, FamilyProfile | None, Sequence[PlanStep], dt.date],
    Mapping[str, PlanDeadline],
]
"""The application deadline of each planned measure that has one (the plan's deadlines)."""


def plan_deadlines(
    view: CatalogueView, profile: FamilyProfile | None, plan: Sequence[PlanStep], day: dt.date
) -> dict[str, PlanDeadline]:
    """Deadlines of the measures the family plans (not yet applied for) that are still open,
    as the plan shows them (core/plan/deadlines.py)."""
    found = {}
    for step in plan:
        measure = view.measures.get(step.measure_id)
        if step.status is not PlanStatus.PLANNED or measure is None:
            continue
        deadline = deadline_of(measure, profile, day)
        if deadline is not None and not deadline.passed(day):
            found[step.measure_id] = PlanDeadline(deadline.due, deadline.estimated)
    return found


@dataclass(frozen=True)
class RunReport:
    families: int  # families with the reminders consent looked at
    queued: int  # reminders queued


def reminder_families() -> Select[models.User]:
    """Users who gave the personal-data consent and an unrevoked reminders consent."""
    U = models.User
    opted_in = exists().where(
        models.Consent.user_id == U.id,
        models.Consent.kind == ConsentKind.REMINDERS,
        models.Consent.revoked_at.is_(None),
    )
    return select(U).where(U.consent_version.is_not(None), opted_in, U.unreachable.is_(False))


def region_timezone(view: CatalogueView, region_code: str | None) -> str:
    region = view.regions.get(region_code or "")
    return region.timezone if region is not None else DEFAULT_TIMEZONE


async def saved_profile(
    session: AsyncSession, view: CatalogueView, user: models.User
) -> FamilyProfile | None:
    """The family's saved answers as of their day, with its region; None if none or unusable."""
    row = await session.get(models.FamilyProfile, user.id)
    if row is None:
        return None
    region = view.regions.get(user.region_code or "")
    per_capita = region.subsistence_minimum.per_capita if region is not None else None
    data = dated_profile(row.data, row.updated_at.date(), per_capita)
    try:
        return FamilyProfile.model_validate({**data, "region": user.region_code})
    except ValueError:
        # A profile saved by an older version that no longer validates: no dated reminders
        # rather than no job. Ids only in the log.
        log.warning("reminders: profile of user %s does not validate, skipped", user.id)
        return None


async def plan_steps(session: AsyncSession, user_id: int) -> list[PlanStep]:
    rows = await session.scalars(select(models.PlanItem).where(models.PlanItem.user_id == user_id))
    known = {status.value for status in PlanStatus}
    return [
        PlanStep(row.measure_id, PlanStatus(row.status), row.status_at.date())
        for row in rows
        if row.status in known
    ]


def fits(view: CatalogueView, measure_id: str, profile: FamilyProfile, day: dt.date) -> bool:
    """The screener does not rule the measure out for the family (eligible or maybe)."""
    measure = view.measures.get(measure_id)
    if measure is None:
        return False
    region = view.regions.get(profile.region or "")
    minimum = region.subsistence_minimum if region is not None else None
    return evaluate(measure, profile, minimum, day).verdict is not Verdict.NOT_ELIGIBLE


async def sent_keys(session: AsyncSession, user_id: int) -> set[str]:
    return set(
        await session.scalars(
            select(models.ReminderSent.key).where(models.ReminderSent.user_id == user_id)
        )
    )


async def _pregnancy_reminded_lately(
    session: AsyncSession, user_id: int, now: dt.datetime
) -> bool:
    found = await session.scalar(
        select(models.ReminderSent.id).where(
            models.ReminderSent.user_id == user_id,
            models.ReminderSent.kind == ReminderKind.PREGNANCY_12W,
            models.ReminderSent.sent_at > now - PREGNANCY_REPEAT_AFTER,
        )
    )
    return found is not None


def record_and_queue(
    session: AsyncSession,
    clock: Clock,
    user: models.User,
    due: Due,
    not_before: dt.datetime,
    title: str | None = None,
) -> None:
    """The sent row and the outbox row, in the caller's transaction."""
    session.add(
        models.ReminderSent(
            user_id=user.id,
            key=due.key,
            kind=due.kind,
            measure_id=due.measure_id,
            region_code=user.region_code,
            sent_at=clock.now(),
        )
    )
    outbox.notify(
        session,
        clock,
        chat_id=user.messenger_id,
        channel=user.channel,
        lang=user.language,
        kind=OUTBOX_KIND_PREFIX + due.kind,
        params={"measure": due.measure_id or "", "title": title or "", **due.params},
        not_before=not_before,
    )


async def remind_family(
    session: AsyncSession,
    clock: Clock,
    view: CatalogueView,
    user: models.User,
    day: dt.date,
    deadlines: Deadlines | None = None,
) -> int:
    """Queue and commit what is due for one family on `day`; the number queued."""
    profile = await saved_profile(session, view, user)
    plan = await plan_steps(session, user.id)
    # The payment is for two or more children: a family that has not said how many it has
    # would get a "maybe" from the screener, but a reminder needs more than a maybe.
    tax_fits = (
        profile is not None
        and len(profile.children or []) >= TAX_MIN_CHILDREN
        and fits(view, FAMILY_TAX_PAYMENT, profile, day)
    )
    found = due_reminders(
        profile,
        plan,
        day,
        family_tax_fits=tax_fits,
        deadlines=deadlines(view, profile, plan, day) if deadlines is not None else None,
    )
    # A reminder that only says "you can apply" is noise when the screener rules the measure
    # out for this family (an income above the threshold, say).
    found = [
        due
        for due in found
        if due.kind not in ONLY_IF_IT_FITS
        or profile is None
        or fits(view, due.measure_id or "", profile, day)
    ]
    if not found:
        return 0
    muted = await muted_kinds(session, user.id)
    already = await sent_keys(session, user.id)
    fresh = [due for due in found if due.kind not in muted and due.key not in already]
    pregnancy = any(due.kind is ReminderKind.PREGNANCY_12W for due in fresh)
    if pregnancy and await _pregnancy_reminded_lately(session, user.id, clock.now()):
        fresh = [due for due in fresh if due.kind is not ReminderKind.PREGNANCY_12W]
    if not fresh:
        return 0
    not_before = daytime_not_before(clock.now(), day, region_timezone(view, user.region_code))
    for due in fresh:
        measure = view.measures.get(due.measure_id or "")
        title = measure.title if measure is not None else None
        record_and_queue(session, clock, user, due, not_before, title)
    try:
        await session.commit()
    except IntegrityError:  # another run queued them first
        await session.rollback()
        return 0
    return len(fresh)


async def run_day(
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    view: CatalogueView,
    day: dt.date,
    deadlines: Deadlines | None = plan_deadlines,
) -> RunReport:
    """Every opted-in family, in batches of ids, each family in a session of its own."""
    families = queued = 0
    after = 0
    while True:
        async with session_factory() as session:
            batch = list(
                await session.scalars(
                    reminder_families()
                    .with_only_columns(models.User.id)
                    .where(models.User.id > after)
                    .order_by(models.User.id)
                    .limit(BATCH)
                )
            )
        if not batch:
            break
        after = batch[-1]
        for user_id in batch:
            async with session_factory() as session:
                # Read again: the family may have stopped reminders or /forget-ed meanwhile.
                user = await session.scalar(reminder_families().where(models.User.id == user_id))
                if user is None:
                    continue
                families += 1
                queued += await remind_family(session, clock, view, user, day, deadlines)
    return RunReport(families, queued)


def local_day(now: dt.datetime, timezone: str = DEFAULT_TIMEZONE) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()
