"""The regional manager's use cases: who may act where, organisations, members, numbers.

A manager (membership role manager with a region) sees and changes only that region; an admin
(role admin, or a telegram id in ADMIN_IDS) may act on any region by naming it. Every function
that changes something takes the region it was asked for and refuses an entry of another one,
so a forged button cannot reach across regions.
"""

from __future__ import annotations

import datetime as dt
import secrets
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.catalogue.edit import ORGANIZATIONS, Entry, dump, write_entry
from core.catalogue.sheet import MAX_ORG_ID, region_today
from core.clock import Clock
from core.referrals import STAFF_ROLES, region_managers
from core.texts import in_language
from db import models
from db.enums import Channel, ConsentKind, ReferralStatus, Role

LOAD_STATUSES = (ReferralStatus.OFFERED, ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS)
CONTACT_FIELDS = ("phone", "email", "website", "address", "hours")
VERIFY_ASK = "manager_tools.verify_ask"
VERIFY_OUTDATED = "manager_tools.verify_outdated"
MEASURES_CHECK = "manager_tools.measures_check"
# How many measure ids the monthly reminder names; the digest's XLSX has the full list.
MEASURES_CHECK_LISTED = 15


# --- access --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagerAccess:
    admin: bool
    regions: tuple[str, ...]
    user_id: int | None

    @property
    def allowed(self) -> bool:
        return self.admin or bool(self.regions)

    def can(self, region_code: str | None) -> bool:
        return region_code is not None and (self.admin or region_code in self.regions)


async def manager_access(
    session: AsyncSession,
    telegram_id: int,
    admin_ids: Collection[int],
    channel: str = Channel.TELEGRAM,
) -> ManagerAccess:
    """Read from the DB on every update: a removed manager loses access at once.

    `admin_ids` (ADMIN_IDS) are Telegram ids; on another messenger only a membership counts.
    """
    admin = channel == Channel.TELEGRAM and telegram_id in admin_ids
    regions: set[str] = set()
    user = await session.scalar(
        select(models.User).where(
            models.User.channel == channel, models.User.telegram_id == telegram_id
        )
    )
    if user is not None:
        rows = await session.scalars(
            select(models.Membership).where(
                models.Membership.user_id == user.id,
                models.Membership.active,
                models.Membership.role.in_([Role.MANAGER, Role.ADMIN]),
            )
        )
        for membership in rows:
            if membership.role == Role.ADMIN:
                admin = True
            elif membership.region_code:
                regions.add(membership.region_code)
    return ManagerAccess(admin, tuple(sorted(regions)), user.id if user else None)


class RegionChoice(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    FORBIDDEN = "forbidden"
    NAME_IT = "name_it"


def choose_region(
    access: ManagerAccess, requested: str | None, known: Collection[str]
) -> tuple[RegionChoice, str | None]:
    """The region a command acts on: the named one (if allowed) or the manager's own."""
    if requested:
        code = requested.strip().upper()
        if code not in known:
            return RegionChoice.UNKNOWN, code
        if not access.can(code):
            return RegionChoice.FORBIDDEN, code
        return RegionChoice.OK, code
    if access.regions:
        return RegionChoice.OK, access.regions[0]
    return RegionChoice.NAME_IT, None


# --- organisations -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRow:
    id: str
    name: str
    name_en: str
    active: bool
    capacity: int
    data: dict[str, Any]


@dataclass(frozen=True)
class OrgRecord:
    """Open load and response record: what routing looks at, as the manager sees it."""

    open_load: int = 0
    offers: int = 0
    accepted: int = 0
    median_minutes_to_accept: float | None = None
    members: int = 0


async def region_organizations(session: AsyncSession, region_code: str) -> list[OrgRow]:
    rows = await session.scalars(
        select(models.Organization)
        .where(models.Organization.region_code == region_code)
        .order_by(models.Organization.active.desc(), models.Organization.name)
    )
    return [
        OrgRow(o.id, o.name, str(o.data.get("name_en", o.name)), o.active, o.capacity, o.data)
        for o in rows
    ]


async def organization_in(
    session: AsyncSession, org_id: str, region_code: str | None = None
) -> models.Organization | None:
    """The organisation, if it exists (and belongs to `region_code` when given)."""
    org = await session.get(models.Organization, org_id)
    if org is None or (region_code is not None and org.region_code != region_code):
        return None
    return org


async def org_records(session: AsyncSession, org_ids: Sequence[str]) -> dict[str, OrgRecord]:
    if not org_ids:
        return {}
    ids = list(org_ids)
    loads = dict(
        (
            await session.execute(
                select(models.Referral.organization_id, func.count())
                .where(
                    models.Referral.organization_id.in_(ids),
                    models.Referral.status.in_(list(LOAD_STATUSES)),
                )
                .group_by(models.Referral.organization_id)
            )
        ).all()
    )
    offers = {
        org_id: (total, accepted)
        for org_id, total, accepted in (
            await session.execute(
                select(
                    models.ReferralOffer.organization_id,
                    func.count(),
                    func.count().filter(models.ReferralOffer.outcome == "accepted"),
                )
                .where(models.ReferralOffer.organization_id.in_(ids))
                .group_by(models.ReferralOffer.organization_id)
            )
        ).all()
    }
    waits: dict[str, list[float]] = {}
    for org_id, offered_at, outcome_at in await session.execute(
        select(
            models.ReferralOffer.organization_id,
            models.ReferralOffer.offered_at,
            models.ReferralOffer.outcome_at,
        ).where(
            models.ReferralOffer.organization_id.in_(ids),
            models.ReferralOffer.outcome == "accepted",
            models.ReferralOffer.outcome_at.is_not(None),
        )
    ):
        if outcome_at is not None:
            wait = (outcome_at - offered_at).total_seconds() / 60
            waits.setdefault(org_id, []).append(wait)
    members = dict(
        (
            await session.execute(
                select(models.Membership.organization_id, func.count())
                .where(
                    models.Membership.organization_id.in_(ids),
                    models.Membership.active,
                    models.Membership.role.in_(list(STAFF_ROLES)),
                )
                .group_by(models.Membership.organization_id)
            )
        ).all()
    )
    out = {}
    for org_id in ids:
        total, accepted = offers.get(org_id, (0, 0))
        minutes = waits.get(org_id)
        out[org_id] = OrgRecord(
            open_load=int(loads.get(org_id, 0)),
            offers=int(total),
            accepted=int(accepted),
            median_minutes_to_accept=round(statistics.median(minutes), 1) if minutes else None,
            members=int(members.get(org_id, 0)),
        )
    return out


class EditError(Exception):
    """A change the schema or the cross-checks refuse; `code` picks the text."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def _audit(
    session: AsyncSession, clock: Clock, user_id: int | None, action: str, details: dict[str, Any]
) -> None:
    session.add(
        models.AuditLog(at=clock.now(), actor_user_id=user_id, action=action, details=details)
    )


def _validated(data: dict[str, Any], view: CatalogueView, region_code: str) -> schema.Organization:
    try:
        org = schema.Organization.model_validate({**data, "consultations": []})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise EditError("invalid", f"{field}: {first['msg']}") from error
    if org.region != region_code:
        raise EditError("forbidden")
    unknown = [n for n in org.needs if n not in view.needs]
    if unknown:
        raise EditError("invalid", f"needs: unknown {', '.join(unknown)}")
    if org.municipalities != ["all"]:
        region = view.regions.get(region_code)
        known = {m.id for m in region.municipalities} if region else set()
        bad = [m for m in org.municipalities if m not in known]
        if bad or "all" in org.municipalities:
            raise EditError("invalid", f"municipalities: {', '.join(bad) or 'all'}")
    return org


async def update_organization(
    session: AsyncSession,
    clock: Clock,
    *,
    org_id: str,
    region_code: str,
    changes: dict[str, Any],
    view: CatalogueView,
    user_id: int | None,
    active: bool | None = None,
) -> schema.Organization:
    """Apply `changes` (top-level fields; None removes one) through the schema and commit.

    The caller refreshes the in-memory catalogue afterwards.
    """
    row = await organization_in(session, org_id, region_code)
    if row is None:
        raise EditError("forbidden")
    data = {**row.data}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    org = _validated(data, view, region_code)
    stored = dump(org)
    stored.pop("consultations", None)
    await write_entry(
        session,
        Entry(ORGANIZATIONS, org.id, stored, row.active if active is None else active),
    )
    fields = sorted(changes) + (["active"] if active is not None else [])
    _audit(session, clock, user_id, "org_edit", {"organization": org_id, "fields": fields})
    await session.commit()
    return org


def toggled_needs(current: Sequence[str], need_id: str, view: CatalogueView) -> list[str]:
    chosen = set(current) ^ {need_id}
    return [n for n in view.needs if n in chosen]


def toggled_municipalities(
    current: Sequence[str], municipality_id: str, view: CatalogueView, region_code: str
) -> list[str]:
    """ "all" is a choice of its own: picking a municipality leaves "all" and vice versa."""
    if municipality_id == "all":
        return ["all"]
    chosen = set() if list(current) == ["all"] else set(current)
    chosen ^= {municipality_id}
    order = [m.id for m in view.regions[region_code].municipalities]
    return [m for m in order if m in chosen]


def contacts_with(current: dict[str, Any], field: str, value: str | None) -> dict[str, Any]:
    if field not in CONTACT_FIELDS:
        raise EditError("invalid", field)
    contacts = dict(current.get("contacts") or {})
    if value:
        contacts[field] = value
    else:
        contacts.pop(field, None)
    return contacts


async def add_organization(
    session: AsyncSession,
    clock: Clock,
    *,
    region_code: str,
    name: str,
    need_id: str,
    view: CatalogueView,
    user_id: int | None,
) -> schema.Organization:
    """A minimal entry (the rest is edited afterwards or through the spreadsheet)."""
    prefix = region_code.split("-")[-1].lower()
    org_id = f"{prefix}-org-{secrets.token_hex(3)}"
    assert len(org_id) <= MAX_ORG_ID
    data = {
        "id": org_id,
        "name": name,
        "name_en": name,
        "kind": schema.OrgKind.NGO.value,
        "region": region_code,
        "description": name,
        "description_en": name,
        "needs": [need_id],
        "municipalities": ["all"],
        "capacity": 10,
        "verified_on": region_today(view, region_code, clock).isoformat(),
    }
    org = _validated(data, view, region_code)
    stored = dump(org)
    stored.pop("consultations", None)
    await write_entry(session, Entry(ORGANIZATIONS, org.id, stored, True))
    _audit(session, clock, user_id, "org_add", {"organization": org.id})
    await session.commit()
    return org


# --- members -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    membership_id: int
    telegram_id: int
    role: str
    paused: bool
    since: dt.datetime
    channel: str = Channel.TELEGRAM  # the messenger `telegram_id` belongs to


async def org_members(session: AsyncSession, org_id: str) -> list[Member]:
    rows = await session.execute(
        select(models.Membership, models.User.telegram_id, models.User.channel)
        .join(models.User, models.User.id == models.Membership.user_id)
        .where(
            models.Membership.organization_id == org_id,
            models.Membership.active,
            models.Membership.role.in_(list(STAFF_ROLES)),
        )
        .order_by(models.Membership.role, models.Membership.id)
    )
    return [
        Member(m.id, telegram_id, m.role, m.paused, m.created_at, channel)
        for m, telegram_id, channel in rows.all()
    ]


async def remove_member(
    session: AsyncSession,
    clock: Clock,
    *,
    membership_id: int,
    region_code: str,
    user_id: int | None,
) -> str | None:
    """Deactivate a volunteer/coordinator of the region; returns the organisation id."""
    membership = await session.get(models.Membership, membership_id)
    if membership is None or not membership.active or membership.role not in STAFF_ROLES:
        return None
    org = await organization_in(session, membership.organization_id or "", region_code)
    if org is None:
        return None
    membership.active = False
    _audit(
        session,
        clock,
        user_id,
        "member_remove",
        {"organization": org.id, "membership": membership_id},
    )
    await session.commit()
    return org.id


# --- /stats --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionStats:
    region: str
    day: dt.date
    families: int
    new_families: int
    news_subscribers: int
    searches: int
    searches_no_result: int
    referrals_today: int
    by_status: dict[str, int]
    open_past_sla: int
    organizations_active: int
    undelivered_notifications: int = 0  # given up by the outbox in the last 7 days


def _day_bounds(now: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(tz)
    start = dt.datetime.combine(local.date(), dt.time(0), tzinfo=tz)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


async def region_stats(
    session: AsyncSession,
    *,
    region_code: str,
    view: CatalogueView,
    now: dt.datetime,
    sla_accept: dt.timedelta,
    sla_contact: dt.timedelta,
) -> RegionStats:
    """Today's numbers (the region's local day) with a handful of aggregate queries."""
    tz = ZoneInfo(view.regions[region_code].timezone)
    start, end = _day_bounds(now, tz)
    U, R, S = models.User, models.Referral, models.SearchLog
    families, new_families = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(U.created_at >= start, U.created_at < end),
            ).where(U.region_code == region_code, U.consent_version.is_not(None))
        )
    ).one()
    subscribers = await session.scalar(
        select(func.count(func.distinct(models.Consent.user_id)))
        .join(U, U.id == models.Consent.user_id)
        .where(
            U.region_code == region_code,
            models.Consent.kind == ConsentKind.NEWS,
            models.Consent.revoked_at.is_(None),
        )
    )
    searches, empty = (
        await session.execute(
            select(func.count(), func.count().filter(S.results == 0)).where(
                S.region_code == region_code, S.at >= start, S.at < end
            )
        )
    ).one()
    by_status = dict(
        (
            await session.execute(
                select(R.status, func.count())
                .where(R.region_code == region_code)
                .group_by(R.status)
            )
        ).all()
    )
    created_today = await session.scalar(
        select(func.count()).where(
            R.region_code == region_code, R.created_at >= start, R.created_at < end
        )
    )
    past_sla = await session.scalar(
        select(func.count()).where(
            R.region_code == region_code,
            ((R.status == ReferralStatus.OFFERED) & (R.offered_at <= now - sla_accept))
            | (
                (R.status == ReferralStatus.ACCEPTED)
                & R.first_contact_at.is_(None)
                & (R.accepted_at <= now - sla_contact)
            ),
        )
    )
    return RegionStats(
        region=region_code,
        day=now.astimezone(tz).date(),
        families=int(families),
        new_families=int(new_families),
        news_subscribers=int(subscribers or 0),
        searches=int(searches),
        searches_no_result=int(empty),
        referrals_today=int(created_today or 0),
        by_status={str(k): int(v) for k, v in by_status.items()},
        open_past_sla=int(past_sla or 0),
        organizations_active=len(view.organizations_for_region(region_code)),
        undelivered_notifications=await outbox.given_up_count(
            session, region_code=region_code, start=now - dt.timedelta(days=7), end=None
        ),
    )


# --- "is your entry still accurate?" -------------------------------------------------------


async def org_coordinators(session: AsyncSession, org_id: str) -> list[models.User]:
    return list(
        await session.scalars(
            select(models.User)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.organization_id == org_id,
                models.Membership.role == Role.COORDINATOR,
                models.Membership.active,
                models.User.unreachable.is_(False),
            )
            .distinct()
            .order_by(models.User.id)
        )
    )


async def queue_verification_questions(
    session: AsyncSession, clock: Clock, view: CatalogueView
) -> int:
    """Ask every active organisation's coordinators whether its entry is still accurate."""
    queued = 0
    for org in sorted(view.organizations.values(), key=lambda o: o.id):
        for user in await org_coordinators(session, org.id):
            outbox.notify(
                session,
                clock,
                chat_id=user.telegram_id,
                channel=user.channel,
                lang=user.language,
                kind=VERIFY_ASK,
                params={
                    "organization": org.id,
                    "name": in_language(user.language, org.name, org.name_en),
                    "verified_on": org.verified_on.isoformat(),
                },
            )
            queued += 1
    await session.commit()
    return queued


async def queue_measure_check_reminders(
    session: AsyncSession, clock: Clock, view: CatalogueView
) -> int:
    """Tell each region's managers which of its measures nobody has compared with an official
    source, or did more than 180 days ago (`checked_on`, as the digest's stale list).

    Only the region's own measures: those are what its managers edit (/export, /import);
    federal ones are kept in the content files.
    """
    queued = 0
    for code in sorted(view.regions):
        today = region_today(view, code, clock)
        own = (m for m in view.measures_for_region(code) if m.region == code)
        states = {m.id: m.check_state(today) for m in own}
        unchecked = sorted(i for i, s in states.items() if s is schema.CheckState.UNCHECKED)
        stale = sorted(i for i, s in states.items() if s is schema.CheckState.STALE)
        if not unchecked and not stale:
            continue
        due = stale + unchecked
        listed = ", ".join(due[:MEASURES_CHECK_LISTED])
        if len(due) > MEASURES_CHECK_LISTED:
            listed += ", …"
        for manager in await region_managers(session, code):
            if manager.unreachable:
                continue
            outbox.notify(
                session,
                clock,
                chat_id=manager.telegram_id,
                channel=manager.channel,
                lang=manager.language,
                kind=MEASURES_CHECK,
                params={
                    "region": code,
                    "unchecked": len(unchecked),
                    "stale": len(stale),
                    "measures": listed,
                },
            )
            queued += 1
    await session.commit()
    return queued


class VerifyOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REPORTED = "reported"
    FORBIDDEN = "forbidden"


async def answer_verification(
    session: AsyncSession,
    clock: Clock,
    *,
    org_id: str,
    user: models.User,
    accurate: bool,
    view: CatalogueView,
) -> VerifyOutcome:
    """ "Yes" stamps verified_on with today; "no" tells the region's managers."""
    org = await organization_in(session, org_id)
    if org is None or not org.active:
        return VerifyOutcome.FORBIDDEN
    coordinator = await session.scalar(
        select(models.Membership.id).where(
            models.Membership.user_id == user.id,
            models.Membership.organization_id == org_id,
            models.Membership.role == Role.COORDINATOR,
            models.Membership.active,
        )
    )
    if coordinator is None:
        return VerifyOutcome.FORBIDDEN
    if accurate:
        today = region_today(view, org.region_code, clock)
        await update_organization(
            session,
            clock,
            org_id=org_id,
            region_code=org.region_code,
            changes={"verified_on": today.isoformat()},
            view=view,
            user_id=user.id,
        )
        return VerifyOutcome.CONFIRMED
    for manager in await region_managers(session, org.region_code):
        outbox.notify(
            session,
            clock,
            chat_id=manager.telegram_id,
            channel=manager.channel,
            lang=manager.language,
            kind=VERIFY_OUTDATED,
            params={
                "organization": org_id,
                "name": in_language(manager.language, org.name, org.data.get("name_en")),
            },
        )
    _audit(session, clock, user.id, "org_outdated", {"organization": org_id})
    await session.commit()
    return VerifyOutcome.REPORTED
