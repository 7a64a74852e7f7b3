"""What every referral state change writes besides the referral: the guard, the event, the word.

A change is a compare-and-set on the version the caller read (the first writer wins), an event
row (the referral's history, which the digest and the family's "/my" read) and notifications
through the `Notifier` port, all in the caller's transaction: no state change exists without
the messages it causes, and no message without its change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.referrals.context import Context
from core.texts import in_language
from db import models
from db.enums import EventAction, ReferralStatus


async def compare_and_set(
    session: AsyncSession,
    referral: models.Referral,
    allowed: Iterable[ReferralStatus],
    **values: Any,
) -> bool:
    """Compare-and-set on the version the caller read: the first writer wins.

    False (and the session rolled back) when the referral changed meanwhile or is not in one
    of the `allowed` statuses; True with `referral` refreshed otherwise.
    """
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


def record_event(
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
    """One row of the referral's history: who moved it from which status to its current one."""
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


def tell(
    session: AsyncSession,
    ctx: Context,
    users: Iterable[models.User | None],
    kind: str,
    referral: models.Referral,
    **params: Any,
) -> None:
    """Notify each reachable person of template `kind` about the referral (its number added)."""
    for user in users:
        if user is None or user.unreachable:
            continue
        ctx.notifier.notify(
            session,
            user,
            kind,
            {"number": referral.id, **params},
            referral_id=referral.id,
        )


def org_name(ctx: Context, organization_id: str | None, lang: str = "ru") -> str:
    """The organisation's name in the reader's language (its id if the catalogue lost it)."""
    org = ctx.view.organizations.get(organization_id or "")
    if org is None:
        return organization_id or "—"
    return in_language(lang, org.name, org.name_en)
