"""Deadlines and escalations: an offer nobody answers, a contact nobody makes, a person gone.

A referral's next deadline is `referrals.sla_due_at`, set by every transition and handed to
the `Timers` port (APScheduler jobs in production, rebuilt from `pending_timers` on start and
backed by a sweep over `due_referrals`). A late, repeated or stale check is harmless: the step
is claimed with the same compare-and-set as every transition.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.referrals import effects, queries, routing
from core.referrals.context import Context
from db import models
from db.enums import OPEN_STATUSES, EventAction, ReferralStatus


async def sla_check(session: AsyncSession, ctx: Context, referral_id: int) -> None:
    """Run the referral's due SLA step; safe to call late, twice, or for a changed referral.

    The step is claimed with the same compare-and-set as every transition before anything is
    written: an accept or a cancel that lands while it runs wins, and the step is dropped.
    """
    referral = await session.get(models.Referral, referral_id)
    now = ctx.clock.now()
    if referral is None or referral.sla_due_at is None or referral.sla_due_at > now:
        if referral is not None:
            ctx.timers.set(referral.id, referral.sla_due_at)
        return
    status = ReferralStatus(referral.status)
    if not await effects.compare_and_set(session, referral, [status]):
        # Changed meanwhile: whoever changed it has set the referral's next timer.
        return
    if status is ReferralStatus.OFFERED:
        await _offer_overdue(session, ctx, referral)
    elif status is ReferralStatus.ACCEPTED:
        await _contact_overdue(session, ctx, referral)
    elif status in (ReferralStatus.RESOLVED, ReferralStatus.NOT_HELPED):
        family = await queries.family_of(session, referral)
        effects.tell(session, ctx, [family], "family.feedback_reminder", referral)
        referral.sla_due_at = None
        effects.record_event(session, ctx, referral, EventAction.REMINDED, from_status=status)
    else:
        referral.sla_due_at = None
    await session.commit()
    ctx.timers.set(referral.id, referral.sla_due_at)


async def _offer_overdue(session: AsyncSession, ctx: Context, referral: models.Referral) -> None:
    now = ctx.clock.now()
    if referral.sla_stage == 0:
        # First breach: remind the organisation and give it half the time again.
        referral.sla_stage = 1
        referral.sla_due_at = now + ctx.sla.accept / 2
        effects.record_event(
            session, ctx, referral, EventAction.SLA_BREACH, from_status=referral.status
        )
        effects.tell(
            session,
            ctx,
            await queries.org_staff(session, referral.organization_id or ""),
            "staff.offer_reminder",
            referral,
        )
        return
    # Still nobody: the offer expires and goes to the next organisation (or the manager).
    await routing.close_offer(session, referral, "expired", now)
    effects.record_event(session, ctx, referral, EventAction.EXPIRED, from_status=referral.status)
    effects.tell(
        session,
        ctx,
        await queries.org_staff(session, referral.organization_id or "", include_paused=True),
        "staff.offer_expired",
        referral,
    )
    await routing.pass_on(session, ctx, referral)


async def _contact_overdue(session: AsyncSession, ctx: Context, referral: models.Referral) -> None:
    now = ctx.clock.now()
    assignee = (
        await session.get(models.User, referral.assignee_user_id)
        if referral.assignee_user_id
        else None
    )
    if referral.sla_stage == 0:
        referral.sla_stage = 1
        referral.sla_due_at = now + ctx.sla.contact / 2
        effects.record_event(
            session, ctx, referral, EventAction.SLA_BREACH, from_status=referral.status
        )
        effects.tell(session, ctx, [assignee], "staff.contact_reminder", referral)
        return
    referral.sla_due_at = None
    effects.record_event(
        session, ctx, referral, EventAction.MANAGER_ALERTED, from_status=referral.status
    )
    effects.tell(
        session,
        ctx,
        await queries.region_managers(session, referral.region_code),
        "manager.no_contact",
        referral,
        organization=effects.org_name(ctx, referral.organization_id),
    )


async def due_referrals(session: AsyncSession, now: dt.datetime) -> list[int]:
    return list(
        await session.scalars(
            select(models.Referral.id)
            .where(models.Referral.sla_due_at <= now)
            .order_by(models.Referral.sla_due_at)
        )
    )


async def pending_timers(session: AsyncSession) -> list[tuple[int, dt.datetime]]:
    """Every referral's next SLA check: what the scheduler rebuilds its timers from."""
    rows = await session.execute(
        select(models.Referral.id, models.Referral.sla_due_at).where(
            models.Referral.sla_due_at.is_not(None)
        )
    )
    return [(rid, due) for rid, due in rows.all() if due is not None]


async def on_unreachable(
    session: AsyncSession, ctx: Context, messenger_id: int, channel: str = "telegram"
) -> None:
    """A person blocked the bot: tell the managers about each open referral that breaks."""
    user = await session.scalar(
        select(models.User).where(
            models.User.channel == channel, models.User.messenger_id == messenger_id
        )
    )
    if user is None:
        return
    open_referrals = list(
        await session.scalars(
            select(models.Referral).where(
                models.Referral.status.in_(list(OPEN_STATUSES)),
                (models.Referral.family_user_id == user.id)
                | (models.Referral.assignee_user_id == user.id),
            )
        )
    )
    for referral in open_referrals:
        side = "family" if referral.family_user_id == user.id else "volunteer"
        effects.tell(
            session,
            ctx,
            await queries.region_managers(session, referral.region_code),
            "manager.unreachable",
            referral,
            side=side,
        )
