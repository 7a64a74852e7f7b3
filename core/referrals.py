"""Closed-loop referrals (PRODUCT.md §2): create, route, accept, decline, resolve, confirm.

Every transition is a compare-and-set on (id, status, organisation) plus an event row and its
notifications in one transaction: two volunteers pressing "accept" together cannot both win,
and no state change exists without the messages it causes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import func, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import consultation_slots, outbox
from core.catalogue.active import CatalogueView
from core.catalogue.schema import OrgKind
from core.clock import Clock
from core.texts import in_language
from db import models
from db.enums import (
    OPEN_STATUSES,
    ConsentKind,
    EventAction,
    ReasonCode,
    ReferralKind,
    ReferralStatus,
    Role,
)

DESCRIPTION_LIMIT = 1500
FEEDBACK_FOLLOW_UP = dt.timedelta(days=3)
STAFF_ROLES = (Role.VOLUNTEER, Role.COORDINATOR)
# Routing ranks organisations by the share of their latest offers they accepted.
RESPONSE_WINDOW = 100


class Timers(Protocol):
    """Where the next SLA check of a referral is scheduled (APScheduler in production)."""

    def set(self, referral_id: int, due_at: dt.datetime | None) -> None: ...


class NoTimers:
    def set(self, referral_id: int, due_at: dt.datetime | None) -> None:
        return None


@dataclass(frozen=True)
class Sla:
    accept: dt.timedelta
    contact: dt.timedelta

    @classmethod
    def hours(cls, accept: float, contact: float) -> Sla:
        return cls(dt.timedelta(hours=accept), dt.timedelta(hours=contact))


class Outcome(StrEnum):
    OK = "ok"
    TAKEN = "taken"  # someone else changed it first (accepted, declined, cancelled)
    FORBIDDEN = "forbidden"  # this person may not do that to this referral
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Context:
    """What every transition needs besides the session."""

    clock: Clock
    view: CatalogueView
    sla: Sla
    timers: Timers


# --- queries ------------------------------------------------------------------------------


async def staff_memberships(session: AsyncSession, user_id: int) -> list[models.Membership]:
    rows = await session.scalars(
        select(models.Membership).where(
            models.Membership.user_id == user_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
    )
    return list(rows)


async def membership_in(
    session: AsyncSession, user_id: int, organization_id: str | None
) -> models.Membership | None:
    if organization_id is None:
        return None
    return await session.scalar(
        select(models.Membership).where(
            models.Membership.user_id == user_id,
            models.Membership.organization_id == organization_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
    )


async def org_staff(
    session: AsyncSession, organization_id: str, *, include_paused: bool = False
) -> list[models.User]:
    query = (
        select(models.User)
        .join(models.Membership, models.Membership.user_id == models.User.id)
        .where(
            models.Membership.organization_id == organization_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
        .distinct()
    )
    if not include_paused:
        query = query.where(models.Membership.paused.is_(False))
    return list(await session.scalars(query))


async def region_managers(session: AsyncSession, region_code: str) -> list[models.User]:
    return list(
        await session.scalars(
            select(models.User)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.role == Role.MANAGER,
                models.Membership.region_code == region_code,
                models.Membership.active,
            )
            .distinct()
        )
    )


async def family_referrals(session: AsyncSession, user_id: int) -> list[models.Referral]:
    return list(
        await session.scalars(
            select(models.Referral)
            .where(models.Referral.family_user_id == user_id)
            .order_by(models.Referral.id.desc())
            .limit(20)
        )
    )


async def open_requests(session: AsyncSession, user_id: int) -> int:
    """How many of the family's requests (not consultation bookings) are still open."""
    count = await session.scalar(
        select(func.count())
        .select_from(models.Referral)
        .where(
            models.Referral.family_user_id == user_id,
            models.Referral.kind == ReferralKind.REQUEST,
            models.Referral.status.in_(list(OPEN_STATUSES)),
        )
    )
    return int(count or 0)


async def inbox(
    session: AsyncSession, user_id: int, memberships: Sequence[models.Membership]
) -> list[models.Referral]:
    """Offered to my organisations or taken by me; a coordinator sees all open ones."""
    orgs = [m.organization_id for m in memberships if m.organization_id]
    coordinated = [
        m.organization_id for m in memberships if m.role == Role.COORDINATOR and m.organization_id
    ]
    if not orgs:
        return []
    visible = (
        (
            models.Referral.organization_id.in_(orgs)
            & (models.Referral.status == ReferralStatus.OFFERED)
        )
        | (models.Referral.assignee_user_id == user_id)
        | models.Referral.organization_id.in_(coordinated)
    )
    return list(
        await session.scalars(
            select(models.Referral)
            .where(visible, models.Referral.status.in_(list(OPEN_STATUSES)))
            .order_by(models.Referral.id)
            .limit(50)
        )
    )


# --- helpers ------------------------------------------------------------------------------


def _event(
    session: AsyncSession,
    ctx: Context,
    referral: models.Referral,
    action: EventAction,
    *,
    from_status: str | None,
    actor: models.User | None = None,
    reason: str | None = None,
    organization_id: str | None = None,
) -> None:
    session.add(
        models.ReferralEvent(
            referral_id=referral.id,
            at=ctx.clock.now(),
            actor_user_id=actor.id if actor else None,
            action=action,
            from_status=from_status,
            to_status=referral.status,
            organization_id=organization_id or referral.organization_id,
            reason=reason,
        )
    )


def _tell(
    session: AsyncSession,
    ctx: Context,
    users: Iterable[models.User | None],
    kind: str,
    referral: models.Referral,
    **params: Any,
) -> None:
    for user in users:
        if user is None or user.unreachable:
            continue
        outbox.notify(
            session,
            ctx.clock,
            chat_id=user.telegram_id,
            channel=user.channel,
            lang=user.language,
            kind=kind,
            params={"number": referral.id, **params},
            referral_id=referral.id,
        )


async def _family(session: AsyncSession, referral: models.Referral) -> models.User | None:
    if referral.family_user_id is None:
        return None
    return await session.get(models.User, referral.family_user_id)


def _org_name(ctx: Context, organization_id: str | None, lang: str = "ru") -> str:
    org = ctx.view.organizations.get(organization_id or "")
    if org is None:
        return organization_id or "—"
    return in_language(lang, org.name, org.name_en)


async def _cas(
    session: AsyncSession,
    referral: models.Referral,
    allowed: Iterable[ReferralStatus],
    **values: Any,
) -> bool:
    """Compare-and-set on the version the caller read: the first writer wins."""
    result = await session.execute(
        update(models.Referral)
        .where(
            models.Referral.id == referral.id,
            models.Referral.version == referral.version,
            models.Referral.status.in_(list(allowed)),
        )
        .values(version=referral.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return False
    await session.refresh(referral)
    return True


# --- routing ------------------------------------------------------------------------------


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
                models.Membership.role.in_(list(STAFF_ROLES)),
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


async def _route(
    session: AsyncSession,
    ctx: Context,
    referral: models.Referral,
    *,
    actor: models.User | None = None,
) -> None:
    """Offer to the best next organisation, or mark unrouted and alert the managers."""
    family = await _family(session, referral)
    ranked = await candidates(session, ctx, referral)
    now = ctx.clock.now()
    previous = referral.status
    if not ranked:
        referral.status = ReferralStatus.UNROUTED
        referral.organization_id = None
        referral.sla_due_at = None
        referral.updated_at = now
        _event(session, ctx, referral, EventAction.UNROUTED, from_status=previous, actor=actor)
        contacts = official_contacts(ctx, referral, family.language if family else "ru")
        if contacts:
            _tell(
                session,
                ctx,
                [family],
                "family.unrouted_contacts",
                referral,
                need=referral.need_id,
                contacts=contacts,
            )
        else:
            _tell(session, ctx, [family], "family.unrouted", referral)
        mun = ctx.view.municipality(referral.municipality_id)
        _tell(
            session,
            ctx,
            await region_managers(session, referral.region_code),
            "manager.unrouted",
            referral,
            need=referral.need_id,
            municipality=mun.name if mun else "—",
        )
        return
    org_id = ranked[0]
    await _offer(session, ctx, referral, org_id, from_status=previous, actor=actor)
    _tell(
        session,
        ctx,
        [family],
        "family.offered",
        referral,
        organization=_org_name(ctx, org_id, family.language if family else "ru"),
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


async def _offer(
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
    _event(session, ctx, referral, EventAction.OFFERED, from_status=from_status, actor=actor)
    mun = ctx.view.municipality(referral.municipality_id)
    consultation = referral.kind == ReferralKind.CONSULTATION
    _tell(
        session,
        ctx,
        await org_staff(session, organization_id),
        "staff.consultation_offer" if consultation else "staff.offer",
        referral,
        need=referral.need_id,
        municipality=mun.name if mun else "—",
        description=referral.description or "",
        hours=round(ctx.sla.accept.total_seconds() / 3600),
    )


async def _close_offer(
    session: AsyncSession, referral: models.Referral, outcome: str, now: dt.datetime
) -> None:
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


async def _release_slot(session: AsyncSession, referral: models.Referral) -> None:
    if referral.kind == ReferralKind.CONSULTATION:
        await consultation_slots.release(session, referral.id)


async def _consultation_dropped(
    session: AsyncSession, ctx: Context, referral: models.Referral, previous: str
) -> None:
    """A booked time is not passed to another organisation: the slot was theirs. The booking
    ends and the family is asked to choose another time."""
    referral.status = ReferralStatus.CANCELLED
    referral.closed_at = ctx.clock.now()
    referral.sla_due_at = None
    await _release_slot(session, referral)
    _event(session, ctx, referral, EventAction.CANCELLED, from_status=previous)
    _tell(
        session, ctx, [await _family(session, referral)], "family.consultation_dropped", referral
    )


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
    _event(session, ctx, referral, EventAction.CREATED, from_status=None, actor=family)
    if kind == ReferralKind.REQUEST:
        # A booking is confirmed by the booking screen itself; no organisation is searched.
        _tell(session, ctx, [family], "family.created", referral, need=need_id)
    if organization_id is not None:
        # A consultation booking goes straight to the organisation that offers it.
        await _offer(session, ctx, referral, organization_id, from_status=ReferralStatus.NEW)
    else:
        await _route(session, ctx, referral, actor=family)
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
        await org_staff(session, referral.organization_id, include_paused=True)
        if referral.organization_id
        else []
    )
    now = ctx.clock.now()
    if not await _cas(
        session,
        referral,
        OPEN_STATUSES,
        status=ReferralStatus.CANCELLED,
        updated_at=now,
        closed_at=now,
        sla_due_at=None,
    ):
        return Outcome.TAKEN
    await _close_offer(session, referral, "cancelled", now)
    await _release_slot(session, referral)
    _event(session, ctx, referral, EventAction.CANCELLED, from_status=previous, actor=family)
    _tell(session, ctx, [family], "family.cancelled", referral)
    if previous != ReferralStatus.NEW:
        _tell(session, ctx, staff, "staff.cancelled", referral)
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
    if not await _cas(
        session,
        referral,
        OPEN_STATUSES,
        description=combined[-DESCRIPTION_LIMIT:],
        updated_at=ctx.clock.now(),
    ):
        return Outcome.TAKEN
    _event(
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
        recipients = list(await org_staff(session, referral.organization_id))
    else:
        recipients = []
    _tell(session, ctx, recipients, "staff.details", referral, text=text[:DESCRIPTION_LIMIT])
    await session.commit()
    return Outcome.OK


# --- volunteer actions --------------------------------------------------------------------


async def accept(
    session: AsyncSession, ctx: Context, *, referral_id: int, volunteer: models.User
) -> Outcome:
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if await membership_in(session, volunteer.id, referral.organization_id) is None:
        return Outcome.FORBIDDEN
    now = ctx.clock.now()
    if not await _cas(
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
    await _close_offer(session, referral, "accepted", now)
    _event(
        session,
        ctx,
        referral,
        EventAction.ACCEPTED,
        from_status=ReferralStatus.OFFERED,
        actor=volunteer,
    )
    family = await _family(session, referral)
    _tell(
        session,
        ctx,
        [family],
        "family.accepted",
        referral,
        organization=_org_name(ctx, referral.organization_id, family.language if family else "ru"),
    )
    colleagues = [
        u
        for u in await org_staff(session, referral.organization_id or "", include_paused=True)
        if u.id != volunteer.id
    ]
    _tell(session, ctx, colleagues, "staff.taken", referral)
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
    if await membership_in(session, volunteer.id, org_id) is None:
        return Outcome.FORBIDDEN
    now = ctx.clock.now()
    if not await _cas(session, referral, [ReferralStatus.OFFERED], updated_at=now):
        return Outcome.TAKEN
    await _close_offer(session, referral, "declined", now)
    _event(
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
        for u in await org_staff(session, org_id or "", include_paused=True)
        if u.id != volunteer.id
    ]
    _tell(session, ctx, colleagues, "staff.declined_by_colleague", referral)
    if referral.kind == ReferralKind.CONSULTATION:
        await _consultation_dropped(session, ctx, referral, ReferralStatus.OFFERED)
    else:
        await _route(session, ctx, referral, actor=volunteer)
    await session.commit()
    ctx.timers.set(referral.id, referral.sla_due_at)
    return Outcome.OK


async def may_work_on(session: AsyncSession, referral: models.Referral, user: models.User) -> bool:
    """The assignee, or a coordinator of the referral's organisation."""
    if referral.assignee_user_id == user.id:
        return True
    membership = await membership_in(session, user.id, referral.organization_id)
    return membership is not None and membership.role == Role.COORDINATOR


async def may_open(session: AsyncSession, referral: models.Referral, user: models.User) -> bool:
    """The inbox rule: offered to one of my organisations, assigned to me, or I coordinate it.

    A colleague's accepted referral is neither, even with a forged "open" button.
    """
    if referral.assignee_user_id == user.id:
        return True
    membership = await membership_in(session, user.id, referral.organization_id)
    if membership is None:
        return False
    return membership.role == Role.COORDINATOR or referral.status == ReferralStatus.OFFERED


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
    if not await _cas(
        session,
        referral,
        [ReferralStatus.ACCEPTED],
        status=ReferralStatus.IN_PROGRESS,
        first_contact_at=now,
        updated_at=now,
        sla_due_at=None,
    ):
        return False
    _event(
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
    if not await may_work_on(session, referral, volunteer):
        return Outcome.FORBIDDEN
    previous = referral.status
    status = ReferralStatus.RESOLVED if helped else ReferralStatus.NOT_HELPED
    now = ctx.clock.now()
    follow_up = now + FEEDBACK_FOLLOW_UP
    if not await _cas(
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
    _event(session, ctx, referral, action, from_status=previous, actor=volunteer, reason=reason)
    family = await _family(session, referral)
    _tell(
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
    if not await _cas(
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
    _event(session, ctx, referral, EventAction.CONFIRMED, from_status=previous, actor=family)
    if referral.assignee_user_id is not None:
        assignee = await session.get(models.User, referral.assignee_user_id)
        _tell(session, ctx, [assignee], "staff.confirmed", referral, got_help=got_help)
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


# --- SLA ----------------------------------------------------------------------------------


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
    if not await _cas(session, referral, [status]):
        # Changed meanwhile: whoever changed it has set the referral's next timer.
        return
    if status is ReferralStatus.OFFERED:
        await _offer_overdue(session, ctx, referral)
    elif status is ReferralStatus.ACCEPTED:
        await _contact_overdue(session, ctx, referral)
    elif status in (ReferralStatus.RESOLVED, ReferralStatus.NOT_HELPED):
        family = await _family(session, referral)
        _tell(session, ctx, [family], "family.feedback_reminder", referral)
        referral.sla_due_at = None
        _event(session, ctx, referral, EventAction.REMINDED, from_status=status)
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
        _event(session, ctx, referral, EventAction.SLA_BREACH, from_status=referral.status)
        _tell(
            session,
            ctx,
            await org_staff(session, referral.organization_id or ""),
            "staff.offer_reminder",
            referral,
        )
        return
    # Still nobody: the offer expires and goes to the next organisation (or the manager).
    await _close_offer(session, referral, "expired", now)
    _event(session, ctx, referral, EventAction.EXPIRED, from_status=referral.status)
    _tell(
        session,
        ctx,
        await org_staff(session, referral.organization_id or "", include_paused=True),
        "staff.offer_expired",
        referral,
    )
    if referral.kind == ReferralKind.CONSULTATION:
        await _consultation_dropped(session, ctx, referral, ReferralStatus.OFFERED)
    else:
        await _route(session, ctx, referral)


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
        _event(session, ctx, referral, EventAction.SLA_BREACH, from_status=referral.status)
        _tell(session, ctx, [assignee], "staff.contact_reminder", referral)
        return
    referral.sla_due_at = None
    _event(session, ctx, referral, EventAction.MANAGER_ALERTED, from_status=referral.status)
    _tell(
        session,
        ctx,
        await region_managers(session, referral.region_code),
        "manager.no_contact",
        referral,
        organization=_org_name(ctx, referral.organization_id),
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
    session: AsyncSession, ctx: Context, telegram_id: int, channel: str = "telegram"
) -> None:
    """A person blocked the bot: tell the managers about each open referral that breaks."""
    user = await session.scalar(
        select(models.User).where(
            models.User.channel == channel, models.User.telegram_id == telegram_id
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
        _tell(
            session,
            ctx,
            await region_managers(session, referral.region_code),
            "manager.unreachable",
            referral,
            side=side,
        )


# --- relay --------------------------------------------------------------------------------

RELAY_STATUSES = (ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS)


@dataclass(frozen=True)
class RelayTarget:
    referral: models.Referral
    recipient: models.User
    side: str  # who is writing: "family" | "volunteer"


async def relay_target(
    session: AsyncSession, referral_id: int, sender: models.User
) -> RelayTarget | Outcome:
    """Who a message on this referral goes to, re-checked against the DB on every message."""
    referral = await session.get(models.Referral, referral_id)
    if referral is None:
        return Outcome.NOT_FOUND
    if referral.family_user_id == sender.id:
        side = "family"
        recipient_id = referral.assignee_user_id
    elif await may_work_on(session, referral, sender):
        side = "volunteer"
        recipient_id = referral.family_user_id
    else:
        return Outcome.FORBIDDEN
    if referral.status not in RELAY_STATUSES or recipient_id is None:
        return Outcome.TAKEN
    recipient = await session.get(models.User, recipient_id)
    if recipient is None:
        return Outcome.TAKEN
    return RelayTarget(referral, recipient, side)


async def relay(
    session: AsyncSession,
    ctx: Context,
    *,
    referral_id: int,
    sender: models.User,
    from_chat_id: int,
    message_id: int,
    content_type: str,
    text: str | None = None,
    caption: str | None = None,
    media: dict[str, str] | None = None,
) -> Outcome:
    """Pass one message to the other side through the outbox: copied, never forwarded.

    `media` names the file for a recipient on another messenger (`core.relay_payload`).
    """
    target = await relay_target(session, referral_id, sender)
    if isinstance(target, Outcome):
        return target
    if target.side == "volunteer" and not await mark_contacted(
        session, ctx, target.referral, sender
    ):
        # The referral changed since it was read (a cancel, say): look again, it may be closed.
        await session.refresh(sender)  # the rollback expired it; the caller still uses it
        target = await relay_target(session, referral_id, sender)
        if isinstance(target, Outcome):
            return target
        if not await mark_contacted(session, ctx, target.referral, sender):
            return Outcome.TAKEN
    referral = target.referral
    session.add(
        models.RelayMessage(
            referral_id=referral.id,
            from_user_id=sender.id,
            direction=f"from_{target.side}",
            content_type=content_type,
            at=ctx.clock.now(),
        )
    )
    params = {"number": referral.id, "side": target.side}
    if text is not None:
        outbox.notify(
            session,
            ctx.clock,
            chat_id=target.recipient.telegram_id,
            channel=target.recipient.channel,
            lang=target.recipient.language,
            kind="relay.text",
            params={**params, "text": text},
            referral_id=referral.id,
        )
    else:
        outbox.copy(
            session,
            ctx.clock,
            chat_id=target.recipient.telegram_id,
            channel=target.recipient.channel,
            lang=target.recipient.language,
            from_chat_id=from_chat_id,
            message_id=message_id,
            caption_kind="relay.caption",
            params={**params, "caption": caption or ""},
            referral_id=referral.id,
            media=media,
        )
    await session.commit()
    return Outcome.OK
