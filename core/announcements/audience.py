"""Who receives news: families of a region who opted in, narrowed by a need (named or implied
by their saved profile) or a municipality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.screener import child_ages
from db import models
from db.enums import Channel, ConsentKind


@dataclass(frozen=True)
class Audience:
    region: str
    need_id: str | None = None
    municipality_id: str | None = None


@dataclass(frozen=True)
class Recipient:
    user_id: int
    messenger_id: int
    language: str
    unreachable: bool
    channel: str = Channel.TELEGRAM


def needs_from_profile(data: Mapping[str, Any], per_capita: float | None = None) -> set[str]:
    """Needs a saved screener profile implies (the family did not have to name them)."""
    needs: set[str] = set()
    children = [c for c in data.get("children") or [] if isinstance(c, dict)]
    ages = child_ages(data)
    if data.get("pregnant"):
        needs.add("pregnancy")
    if any(age < 1 for age in ages):
        needs.add("newborn")
    if any(age < 3 for age in ages):
        needs.add("child_0_3")
    if any(3 <= age < 18 for age in ages):
        needs.add("child_3_17")
    if len(children) >= 3:
        needs.add("large_family")
    if any(c.get("disabled") for c in children):
        needs.add("disabled_child")
    if data.get("student"):
        needs.add("student_parent")
    if data.get("single_parent"):
        needs.add("single_parent")
    if data.get("has_mortgage"):
        needs.add("housing")
    if data.get("employed") is False:
        needs.add("parent_employment")
    income = data.get("income_per_person")
    if per_capita and income is not None and float(income) < per_capita:
        needs.add("low_income")
    span = data.get("income_range_pm")  # a button's range in ПМ: below 1 ПМ is low income
    if isinstance(span, list) and len(span) == 2 and span[1] is not None and span[1] <= 1:
        needs.add("low_income")
    return needs


async def recipients(
    session: AsyncSession, view: CatalogueView, audience: Audience, *, only: int | None = None
) -> list[Recipient]:
    """Families of the region with personal-data consent and an open news consent.

    A need filter matches a family that asked for help with that need or whose saved profile
    implies it. Families known to have blocked the bot are included (flagged), so a report can
    count them. `only` (a user id) asks whether that one family is in the audience.
    """
    U = models.User
    news = exists().where(
        models.Consent.user_id == U.id,
        models.Consent.kind == ConsentKind.NEWS,
        models.Consent.revoked_at.is_(None),
    )
    query = (
        select(
            U.id, U.messenger_id, U.language, U.unreachable, models.FamilyProfile.data, U.channel
        )
        .outerjoin(models.FamilyProfile, models.FamilyProfile.user_id == U.id)
        .where(U.region_code == audience.region, U.consent_version.is_not(None), news)
        .order_by(U.id)
    )
    if audience.municipality_id:
        query = query.where(U.municipality_id == audience.municipality_id)
    if only is not None:
        query = query.where(U.id == only)
    rows = (await session.execute(query)).all()
    if not audience.need_id:
        return [Recipient(uid, tg, lang, bool(flag), ch) for uid, tg, lang, flag, _, ch in rows]
    asked = set(
        await session.scalars(
            select(models.Referral.family_user_id)
            .where(
                models.Referral.region_code == audience.region,
                models.Referral.need_id == audience.need_id,
                models.Referral.family_user_id.is_not(None),
            )
            .distinct()
        )
    )
    region = view.regions.get(audience.region)
    per_capita = region.subsistence_minimum.per_capita if region else None
    return [
        Recipient(uid, tg, lang, bool(flag), ch)
        for uid, tg, lang, flag, profile, ch in rows
        if uid in asked
        or (profile is not None and audience.need_id in needs_from_profile(profile, per_capita))
    ]


@dataclass(frozen=True)
class AudienceSize:
    reachable: int
    blocked: int


async def audience_size(
    session: AsyncSession, view: CatalogueView, audience: Audience
) -> AudienceSize:
    found = await recipients(session, view, audience)
    blocked = sum(1 for r in found if r.unreachable)
    return AudienceSize(len(found) - blocked, blocked)
