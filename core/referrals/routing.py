"""Choosing who gets a referral: rank the organisations, offer it, or hand it to the managers.

Routing is a step inside a transition (create, decline, an expired offer), never a use case of
its own: it changes the referral in memory, writes the offer and its events and notifications,
and the calling transition commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.schema import OrgKind
from core.referrals import effects, queries, slot_release
from core.referrals.context import Context
from core.texts import in_language
from db import models
from db.enums import EventAction, ReferralKind, ReferralStatus

# Routing ranks organisations by the share of their latest offers they accepted.
RESPONSE_WINDOW = 100


async def candidates(session: AsyncSession, ctx: Context, referral: models.Referral) -> list[str]:
    """Organisations that serve this need and municipality, least loaded first.

    Order: open load / capacity, then response record (share of its latest RESPONSE_WINDOW
    offers accepted), then id.
    Organisations already offered this referral, without capacity or without an active,
    unpaused volunteer are left out.
    """
    offered = set(
        await session.scalars(
            select(models.ReferralOffer.organization_id).where(
                models.ReferralOffer.referral_id == referral.id
            )
        )
    )
    serving = [
        org
        for org in ctx.view.organizations_for_region(referral.region_code)
        if org.capacity > 0
        and referral.need_id in org.needs
        and (
            org.municipalities == ["all"]
            or referral.municipality_id is None
            or referral.municipality_id in org.municipalities
        )
        and org.id not in offered
    ]
    if not serving:
        return []
    ids = [org.id for org in serving]
    staffed = set(
        await session.scalars(
            select(models.Membership.organization_id)
            .where(
                models.Membership.organization_id.in_(ids),
                models.Membership.active,
                models.Membership.paused.is_(False),
                models.Membership.role.in_(list(queries.STAFF_ROLES)),
            )
            .distinct()
        )
    )
    load_rows = (
        await session.execute(
            select(models.Referral.organization_id, func.count())
            .where(
                models.Referral.organization_id.in_(ids),
                models.Referral.status.in_(
                    [
                        ReferralStatus.OFFERED,
                        ReferralStatus.ACCEPTED,
                        ReferralStatus.IN_PROGRESS,
                    ]
                ),
            )
            .group_by(models.Referral.organization_id)
        )
    ).all()
    loads = {org_id: count for org_id, count in load_rows}
    records = await response_records(session, ids)

    def rank(org_id: str) -> tuple[float, float, str]:
        capacity = ctx.view.organizations[org_id].capacity
        total, accepted = records.get(org_id, (0, 0))
        response = accepted / total if total else 1.0
        return (loads.get(org_id, 0) / capacity, -response, org_id)

    return sorted((i for i in ids if i in staffed), key=rank)


async def response_records(
    session: AsyncSession, organization_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """(offers, accepted) over each organisation's latest RESPONSE_WINDOW offers.

    A fixed window keeps routing as fast with years of history as on the first day (one
    index range per organisation, ix_referral_offers_org_id) and follows how an organisation
    answers now rather than what it did long ago.
    """
    if not organization_ids:
        return {}
    offers = models.ReferralOffer
    latest = [
        select(offers.organization_id, offers.outcome)
        .where(offers.organization_id == org_id)
        .order_by(offers.id.desc())
        .limit(RESPONSE_WINDOW)
        .subquery()
        for org_id in organization_ids
    ]
    rows = await session.execute(union_all(*(select(sub) for sub in latest)))
    records: dict[str, tuple[int, int]] = {}
    for org_id, outcome in rows:
        total, accepted = records.get(org_id, (0, 0))
        records[org_id] = (total + 1, accepted + (outcome == "accepted"))
    return records


async def route(
    session: AsyncSession,
    ctx: Context,
    referral: models.Referral,
    *,
    actor: models.User | None = None,
) -> None:
    """Offer to the best next organisation, or mark unrouted and alert the managers."""
    family = await queries.family_of(session, referral)
    ranked = await candidates(session, ctx, referral)
    now = ctx.clock.now()
    previous = referral.status
    if not ranked:
        referral.status = ReferralStatus.UNROUTED
        referral.organization_id = None
        referral.sla_due_at = None
        referral.updated_at = now
        effects.record_event(
            session, ctx, referral, EventAction.UNROUTED, from_status=previous, actor=actor
        )
        contacts = official_contacts(ctx, referral, family.language if family else "ru")
        if contacts:
            effects.tell(
                session,
                ctx,
                [family],
                "family.unrouted_contacts",
                referral,
                need=referral.need_id,
                contacts=contacts,
            )
        else:
            effects.tell(session, ctx, [family], "family.unrouted", referral)
        mun = ctx.view.municipality(referral.municipality_id)
        effects.tell(
            session,
            ctx,
            await queries.region_managers(session, referral.region_code),
            "manager.unrouted",
            referral,
            need=referral.need_id,
            municipality=mun.name if mun else "—",
        )
        return
    org_id = ranked[0]
    await offer(session, ctx, referral, org_id, from_status=previous, actor=actor)
    effects.tell(
        session,
        ctx,
        [family],
        "family.offered",
        referral,
        organization=effects.org_name(ctx, org_id, family.language if family else "ru"),
    )


def official_contacts(ctx: Context, referral: models.Referral, lang: str) -> str:
    """Where a family can turn when no cluster organisation can take its request: the region's
    state bodies in the catalogue (those serving the need first), one line each with contacts.
    """
    state = [
        org
        for org in ctx.view.organizations_for_region(referral.region_code)
        if org.kind is OrgKind.STATE
        and not org.demo
        and (org.contacts.phone or org.contacts.website)
    ]
    serving = [org for org in state if referral.need_id in org.needs]
    lines = []
    for org in serving or state:
        parts = [org.contacts.phone, str(org.contacts.website) if org.contacts.website else None]
        name = in_language(lang, org.name, org.name_en)
        lines.append(f"• {name}: " + ", ".join(p for p in parts if p))
    return "\n".join(lines)


async def offer(
    session: AsyncSession,
    ctx: Context,
    referral: models.Referral,
    organization_id: str,
    *,
    from_status: str,
    actor: models.User | None = None,
) -> None:
    """Offer to one organisation: start its accept deadline and notify its staff."""
    now = ctx.clock.now()
    referral.status = ReferralStatus.OFFERED
    referral.organization_id = organization_id
    referral.offered_at = now
    referral.updated_at = now
    referral.sla_due_at = now + ctx.sla.accept
    referral.sla_stage = 0
    session.add(
        models.ReferralOffer(
            referral_id=referral.id, organization_id=organization_id, offered_at=now
        )
    )
    effects.record_event(
        session, ctx, referral, EventAction.OFFERED, from_status=from_status, actor=actor
    )
    mun = ctx.view.municipality(referral.municipality_id)
    consultation = referral.kind == ReferralKind.CONSULTATION
    effects.tell(
        session,
        ctx,
        await queries.org_staff(session, organization_id),
        "staff.consultation_offer" if consultation else "staff.offer",
        referral,
        need=referral.need_id,
        municipality=mun.name if mun else "—",
        description=referral.description or "",
        hours=round(ctx.sla.accept.total_seconds() / 3600),
    )


async def close_offer(
    session: AsyncSession, referral: models.Referral, outcome: str, now: dt.datetime
) -> None:
    """Record how the current organisation's open offer ended (accepted, declined, ...)."""
    await session.execute(
        update(models.ReferralOffer)
        .where(
            models.ReferralOffer.referral_id == referral.id,
            models.ReferralOffer.organization_id == referral.organization_id,
            models.ReferralOffer.outcome.is_(None),
        )
        .values(outcome=outcome, outcome_at=now)
        .execution_options(synchronize_session=False)
    )


async def pass_on(
    session: AsyncSession,
    ctx: Context,
    referral: models.Referral,
    *,
    actor: models.User | None = None,
) -> None:
    """An organisation let an offer go (declined or expired): a request goes to the next one,
    a consultation booking ends (its time was that organisation's)."""
    if referral.kind == ReferralKind.CONSULTATION:
        await _consultation_dropped(session, ctx, referral, ReferralStatus.OFFERED)
    else:
        await route(session, ctx, referral, actor=actor)


async def _consultation_dropped(
    session: AsyncSession, ctx: Context, referral: models.Referral, previous: str
) -> None:
    """A booked time is not passed to another organisation: the slot was theirs. The booking
    ends and the family is asked to choose another time."""
    referral.status = ReferralStatus.CANCELLED
    referral.closed_at = ctx.clock.now()
    referral.sla_due_at = None
    await slot_release.release_if_booking(session, referral)
    effects.record_event(session, ctx, referral, EventAction.CANCELLED, from_status=previous)
    effects.tell(
        session,
        ctx,
        [await queries.family_of(session, referral)],
        "family.consultation_dropped",
        referral,
    )
