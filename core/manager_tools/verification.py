""" "Is your entry still accurate?": questions to coordinators, the monthly reminder to check
measures, and the coordinator's answer.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.audit import record_audit
from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.catalogue.sheet import region_today
from core.clock import Clock
from core.manager_tools.organizations import organization_in, update_organization
from core.referrals.queries import region_managers
from core.texts import in_language
from db import models
from db.enums import Role

VERIFY_ASK = "manager_tools.verify_ask"
VERIFY_OUTDATED = "manager_tools.verify_outdated"
MEASURES_CHECK = "manager_tools.measures_check"
# How many measure ids the monthly reminder names; the digest's XLSX has the full list.
MEASURES_CHECK_LISTED = 15


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
                chat_id=user.messenger_id,
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
                chat_id=manager.messenger_id,
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
            chat_id=manager.messenger_id,
            channel=manager.channel,
            lang=manager.language,
            kind=VERIFY_OUTDATED,
            params={
                "organization": org_id,
                "name": in_language(manager.language, org.name, org.data.get("name_en")),
            },
        )
    record_audit(session, clock, user.id, "org_outdated", {"organization": org_id})
    await session.commit()
    return VerifyOutcome.REPORTED
