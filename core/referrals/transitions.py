"""The referral state machine: what families and organisations do to a referral.

Every transition is a use case that owns its commit: a compare-and-set on (id, version, status)
plus the event row and notifications, in one transaction (core/referrals/effects.py). Two
volunteers pressing "accept" together cannot both win, and a cancel that lands first is never
undone. After the commit, the referral's next SLA check goes to the `Timers` port.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from core.referrals import effects, queries, routing, slot_release
from core.referrals.context import Context, Outcome
from db import models
from db.enums import (
    OPEN_STATUSES,
    ConsentKind,
    EventAction,
    ReasonCode,
    ReferralKind,
    ReferralStatus,
)

DESCRIPTION_LIMIT = 1500
FEEDBACK_FOLLOW_UP = dt.timedelta(days=3)


# --- family actions -----------------------------------------------------------------------


async def create(
    session: AsyncSession,
    ctx: Context,
    *,
    family: models.User,
    need_id: str,
    municipality_id: str | None,
    description: str | None,
    contact_phone: str | None,
    consent_version: str,
    measure_id: str | None = None,
    kind: ReferralKind = ReferralKind.REQUEST,
    organization_id: str | None = None,
) -> models.Referral:
    """Create and route a request; committed before the family is told it was received."""
    if family.region_code is None:
        raise ValueError("a referral needs the family's region")
    now = ctx.clock.now()
    session.add(
        models.Consent(
            user_id=family.id,
            kind=ConsentKind.REFERRAL_TRANSFER,
            version=consent_version,
            granted_at=now,
        )
    )
    referral = models.Referral(
        kind=kind,
        region_code=family.region_code,
        municipality_id=municipality_id,
        need_id=need_id,
        family_user_id=family.id,
        status=ReferralStatus.NEW,
        description=(description or "")[:DESCRIPTION_LIMIT] or None,
        contact_phone=contact_phone,
        measure_id=measure_id,
        created_at=now,
        updated_at=now,
        version=0,
        sla_stage=0,
    )
    session.add(referral)
    await session.flush()
    effects.record_event(
        session, ctx, referral, EventAction.CREATED, from_status=None, actor=family
    )
    if kind == ReferralKind.REQUEST:
        # A booking is confirmed by the booking screen itself; no organisation is searched.
        effects.tell(session, ctx, [family], "family.created", referral, need=need_id)
    if organization_id is not None:
        # A consultation booking goes straight to the organisation that offers it.
        await routing.offer(
            session, ctx, referral, organization_id, from_status=ReferralStatus.NEW
        )
    else:
        await routing.route(session, ctx, referral, actor=family)
    await session.commit()
    ctx.timers.set(referral.id, referral.sla_due_at)
    return referral


async def cancel(
    session: AsyncSession, ctx: Context, *, referral_id: int, family: models.User
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if referral.family_user_id != family.id:
        return Outcome.FORBIDDEN
    previous = referral.status
    staff = (
        await queries.org_staff(session, referral.organization_id, include_paused=True)
        if referral.organization_id
        else []
    )
    now = ctx.clock.now()
    if not await effects.compare_and_set(
        session,
        referral,
        OPEN_STATUSES,
        status=ReferralStatus.CANCELLED,
        updated_at=now,
        closed_at=now,
        sla_due_at=None,
    ):
        return Outcome.TAKEN
    await routing.close_offer(session, referral, "cancelled", now)
    await slot_release.release_if_booking(session, referral)
    effects.record_event(
        session, ctx, referral, EventAction.CANCELLED, from_status=previous, actor=family
    )
    effects.tell(session, ctx, [family], "family.cancelled", referral)
    if previous != ReferralStatus.NEW:
        effects.tell(session, ctx, staff, "staff.cancelled", referral)
    await session.commit()
    ctx.timers.set(referral.id, None)
    return Outcome.OK


async def add_details(
    session: AsyncSession, ctx: Context, *, referral_id: int, family: models.User, text: str
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if referral.family_user_id != family.id:
        return Outcome.FORBIDDEN
    combined = f"{referral.description or ''}\n+ {text}".strip()
    if not await effects.compare_and_set(
        session,
        referral,
        OPEN_STATUSES,
        description=combined[-DESCRIPTION_LIMIT:],
        updated_at=ctx.clock.now(),
    ):
        return Outcome.TAKEN
    effects.record_event(
        session,
        ctx,
        referral,
        EventAction.DETAILS_ADDED,
        from_status=referral.status,
        actor=family,
    )
    if referral.assignee_user_id is not None:
        recipients = [await session.get(models.User, referral.assignee_user_id)]
    elif referral.organization_id is not None:
        recipients = list(await queries.org_staff(session, referral.organization_id))
    else:
        recipients = []
    effects.tell(
        session, ctx, recipients, "staff.details", referral, text=text[:DESCRIPTION_LIMIT]
    )
    await session.commit()
    return Outcome.OK


async def accept(
    session: AsyncSession, ctx: Context, *, referral_id: int, volunteer: models.User
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if await queries.membership_in(session, volunteer.id, referral.organization_id) is None:
        return Outcome.FORBIDDEN
    now = ctx.clock.now()
    if not await effects.compare_and_set(
        session,
        referral,
        [ReferralStatus.OFFERED],
        status=ReferralStatus.ACCEPTED,
        assignee_user_id=volunteer.id,
        accepted_at=now,
        updated_at=now,
        sla_due_at=now + ctx.sla.contact,
        sla_stage=0,
    ):
        return Outcome.TAKEN
    await routing.close_offer(session, referral, "accepted", now)
    effects.record_event(
        session,
        ctx,
        referral,
        EventAction.ACCEPTED,
        from_status=ReferralStatus.OFFERED,
        actor=volunteer,
    )
    family = await queries.family_of(session, referral)
    effects.tell(
        session,
        ctx,
        [family],
        "family.accepted",
        referral,
        organization=effects.org_name(
            ctx, referral.organization_id, family.language if family else "ru"
        ),
    )
    colleagues = [
        u
        for u in await queries.org_staff(
            session, referral.organization_id or "", include_paused=True
        )
        if u.id != volunteer.id
    ]
    effects.tell(session, ctx, colleagues, "staff.taken", referral)
    await session.commit()
    ctx.timers.set(referral.id, referral.sla_due_at)
    return Outcome.OK


async def decline(
    session: AsyncSession,
    ctx: Context,
    *,
    referral_id: int,
    volunteer: models.User,
    reason: ReasonCode,
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    org_id = referral.organization_id
    if await queries.membership_in(session, volunteer.id, org_id) is None:
        return Outcome.FORBIDDEN
    now = ctx.clock.now()
    if not await effects.compare_and_set(
        session, referral, [ReferralStatus.OFFERED], updated_at=now
    ):
        return Outcome.TAKEN
    await routing.close_offer(session, referral, "declined", now)
    effects.record_event(
        session,
        ctx,
        referral,
        EventAction.DECLINED,
        from_status=ReferralStatus.OFFERED,
        actor=volunteer,
        reason=reason,
        organization_id=org_id,
    )
    colleagues = [
        u
        for u in await queries.org_staff(session, org_id or "", include_paused=True)
        if u.id != volunteer.id
    ]
    effects.tell(session, ctx, colleagues, "staff.declined_by_colleague", referral)
    await routing.pass_on(session, ctx, referral, actor=volunteer)
    await session.commit()
    ctx.timers.set(referral.id, referral.sla_due_at)
    return Outcome.OK


async def mark_contacted(
    session: AsyncSession, ctx: Context, referral: models.Referral, volunteer: models.User
) -> bool:
    """The first message from the organisation starts the work; the caller commits.

    A compare-and-set like every other transition: False (and the session rolled back) when
    the referral changed since the caller read it, so a cancel that came first is never undone.
    """
    if referral.status != ReferralStatus.ACCEPTED:
        return True
    now = ctx.clock.now()
    if not await effects.compare_and_set(
        session,
        referral,
        [ReferralStatus.ACCEPTED],
        status=ReferralStatus.IN_PROGRESS,
        first_contact_at=now,
        updated_at=now,
        sla_due_at=None,
    ):
        return False
    effects.record_event(
        session,
        ctx,
        referral,
        EventAction.CONTACTED,
        from_status=ReferralStatus.ACCEPTED,
        actor=volunteer,
    )
    ctx.timers.set(referral.id, None)
    return True


async def resolve(
    session: AsyncSession,
    ctx: Context,
    *,
    referral_id: int,
    volunteer: models.User,
    helped: bool,
    reason: ReasonCode | None = None,
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if not await queries.may_work_on(session, referral, volunteer):
        return Outcome.FORBIDDEN
    previous = referral.status
    status = ReferralStatus.RESOLVED if helped else ReferralStatus.NOT_HELPED
    now = ctx.clock.now()
    follow_up = now + FEEDBACK_FOLLOW_UP
    if not await effects.compare_and_set(
        session,
        referral,
        [ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS],
        status=status,
        resolved_at=now,
        updated_at=now,
        sla_due_at=follow_up,
        sla_stage=0,
    ):
        return Outcome.TAKEN
    action = EventAction.RESOLVED if helped else EventAction.NOT_HELPED
    effects.record_event(
        session, ctx, referral, action, from_status=previous, actor=volunteer, reason=reason
    )
    family = await queries.family_of(session, referral)
    effects.tell(
        session,
        ctx,
        [family],
        "family.resolved" if helped else "family.not_helped",
        referral,
        reason=reason or "",
    )
    await session.commit()
    ctx.timers.set(referral.id, follow_up)
    return Outcome.OK


async def confirm(
    session: AsyncSession,
    ctx: Context,
    *,
    referral_id: int,
    family: models.User,
    got_help: str,
) -> tuple[Outcome, int | None]:
    """The family's answer closes the loop; returns the feedback id for rating and comment."""
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND, None
    if referral.family_user_id != family.id:
        return Outcome.FORBIDDEN, None
    previous = referral.status
    now = ctx.clock.now()
    if not await effects.compare_and_set(
        session,
        referral,
        [ReferralStatus.RESOLVED, ReferralStatus.NOT_HELPED],
        status=ReferralStatus.CLOSED,
        closed_at=now,
        updated_at=now,
        sla_due_at=None,
    ):
        return Outcome.TAKEN, None
    feedback = models.Feedback(
        kind="referral",
        region_code=referral.region_code,
        user_id=family.id,
        referral_id=referral.id,
        need_id=referral.need_id,
        got_help=got_help,
        created_at=now,
    )
    session.add(feedback)
    effects.record_event(
        session, ctx, referral, EventAction.CONFIRMED, from_status=previous, actor=family
    )
    if referral.assignee_user_id is not None:
        assignee = await session.get(models.User, referral.assignee_user_id)
        effects.tell(session, ctx, [assignee], "staff.confirmed", referral, got_help=got_help)
    await session.commit()
    ctx.timers.set(referral.id, None)
    return Outcome.OK, feedback.id


async def rate(
    session: AsyncSession,
    *,
    feedback_id: int,
    family: models.User,
    rating: int | None = None,
    comment: str | None = None,
) -> bool:
    feedback = await session.get(models.Feedback, feedback_id)
    if feedback is None or feedback.user_id != family.id or feedback.kind != "referral":
        return False
    if rating is not None:
        feedback.rating = max(1, min(5, rating))
    if comment is not None:
        feedback.comment = comment[:1000]
    await session.commit()
    return True
