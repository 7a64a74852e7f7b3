"""152-FZ rights: what is stored about a person (/mydata) and erasing it (/forget)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox, plan, referrals
from core.referrals.context import Context
from core.reminders.consent import export_reminders
from db import models
from db.enums import OPEN_STATUSES, Channel, OutboxStatus


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def export_user_data(session: AsyncSession, user: models.User) -> dict[str, Any]:
    """Everything stored about this person, in one document they can read."""
    consents = await session.scalars(
        select(models.Consent).where(models.Consent.user_id == user.id).order_by(models.Consent.id)
    )
    profile = await session.get(models.FamilyProfile, user.id)
    own = list(
        await session.scalars(
            select(models.Referral)
            .where(models.Referral.family_user_id == user.id)
            .order_by(models.Referral.id)
        )
    )
    feedback = await session.scalars(
        select(models.Feedback)
        .where(models.Feedback.user_id == user.id)
        .order_by(models.Feedback.id)
    )
    searches = await session.scalars(
        select(models.SearchLog)
        .where(models.SearchLog.user_id == user.id)
        .order_by(models.SearchLog.id)
    )
    roles = await session.scalars(
        select(models.Membership).where(models.Membership.user_id == user.id)
    )
    linked = (
        await session.get(models.User, user.linked_user_id)
        if user.linked_user_id is not None
        else None
    )
    return {
        "messenger_id": user.messenger_id,
        "channel": user.channel,
        # The same person's account on their other messenger (/link), if any.
        "linked_account": (
            {"channel": linked.channel, "messenger_id": linked.messenger_id} if linked else None
        ),
        "language": user.language,
        "region": user.region_code,
        "municipality": user.municipality_id,
        "created_at": _when(user.created_at),
        "consents": [
            {
                "kind": c.kind,
                "version": c.version,
                "granted_at": _when(c.granted_at),
                "revoked_at": _when(c.revoked_at),
            }
            for c in consents
        ],
        "family_profile": profile.data if profile else None,
        "requests": [
            {
                "number": r.id,
                "need": r.need_id,
                "municipality": r.municipality_id,
                "status": r.status,
                "description": r.description,
                "phone": r.contact_phone,
                "created_at": _when(r.created_at),
            }
            for r in own
        ],
        "feedback": [
            {
                "request": f.referral_id,
                "measure": f.measure_id,
                "got_help": f.got_help,
                "rating": f.rating,
                "verdict": f.verdict,
                "reason": f.reason,
                "comment": f.comment,
                "at": _when(f.created_at),
            }
            for f in feedback
        ],
        "searches": [{"query": s.query, "at": _when(s.at)} for s in searches],
        "roles": [
            {"role": m.role, "organization": m.organization_id, "region": m.region_code}
            for m in roles
        ],
        "plan": await plan.export_plan(session, user.id),
        "reminders": await export_reminders(session, user.id),
    }


async def forget_user(session: AsyncSession, ctx: Context, user: models.User) -> int:
    """Erase a person's data; anonymous rows stay so the region's counts do not change.

    Open requests are cancelled first (the organisation is told), then texts, phones and
    links to the person are removed, and the user row with consents and profile is deleted.
    Returns the number of requests that were anonymised.
    """
    open_ids = list(
        await session.scalars(
            select(models.Referral.id).where(
                models.Referral.family_user_id == user.id,
                models.Referral.status.in_(list(OPEN_STATUSES)),
            )
        )
    )
    for referral_id in open_ids:
        await referrals.cancel(session, ctx, referral_id=referral_id, family=user)
    # The cancellations committed. Notifications to this person, sent or not, would keep
    # their chat id next to a request number: they go. Those to others about the person's
    # requests lose what the person wrote and where a copied message came from.
    await session.execute(
        delete(models.OutboxMessage).where(
            models.OutboxMessage.channel == user.channel,
            models.OutboxMessage.chat_id == user.messenger_id,
        )
    )
    await _scrub_outbox(session, user)
    await _drop_received_updates(session, user.channel, user.messenger_id)
    await session.execute(
        update(models.DeadLetter)
        .where(
            models.DeadLetter.channel == user.channel,
            models.DeadLetter.chat_id == user.messenger_id,
        )
        .values(chat_id=None)
    )
    anonymised = await session.execute(
        update(models.Referral)
        .where(models.Referral.family_user_id == user.id)
        .values(family_user_id=None, description=None, contact_phone=None)
    )
    await session.execute(
        update(models.Feedback)
        .where(models.Feedback.user_id == user.id)
        .values(user_id=None, comment=None)
    )
    # The count of searches stays; what they typed goes with them.
    await session.execute(
        update(models.SearchLog)
        .where(models.SearchLog.user_id == user.id)
        .values(user_id=None, query="")
    )
    for model, column in (
        (models.ReferralEvent, models.ReferralEvent.actor_user_id),
        (models.RelayMessage, models.RelayMessage.from_user_id),
        (models.AuditLog, models.AuditLog.actor_user_id),
    ):
        await session.execute(update(model).where(column == user.id).values({column.key: None}))
    await session.execute(
        delete(models.FamilyProfile).where(models.FamilyProfile.user_id == user.id)
    )
    await _record_erasure(session, ctx.clock.now(), user)
    await session.execute(delete(models.Consent).where(models.Consent.user_id == user.id))
    await session.execute(delete(models.Membership).where(models.Membership.user_id == user.id))
    await session.execute(
        update(models.Invite)
        .where(models.Invite.used_by_user_id == user.id)
        .values(used_by_user_id=None)
    )
    await session.execute(
        update(models.Invite)
        .where(models.Invite.created_by_user_id == user.id)
        .values(created_by_user_id=None)
    )
    await session.execute(
        update(models.Referral)
        .where(models.Referral.assignee_user_id == user.id)
        .values(assignee_user_id=None)
    )
    await session.execute(
        delete(models.DigestDelivery).where(models.DigestDelivery.user_id == user.id)
    )
    await session.execute(
        update(models.Broadcast)
        .where(
            models.Broadcast.created_by_user_id == user.id,
            models.Broadcast.progress_chat_id == user.messenger_id,
        )
        .values(progress_chat_id=None, progress_message_id=None)
    )
    # MAX: the integer ids of the person's messages (bot/max/ids.py). Only a MAX person's:
    # the same number on Telegram is someone else.
    if user.channel == Channel.MAX:
        await session.execute(
            delete(models.MaxMessage).where(models.MaxMessage.chat_id == user.messenger_id)
        )
    await session.execute(delete(models.User).where(models.User.id == user.id))
    await session.commit()
    return int(anonymised.rowcount or 0)  # type: ignore[attr-defined]


async def _scrub_outbox(session: AsyncSession, user: models.User) -> None:
    """Strip personal params from notifications about requests this person took part in.

    A message still waiting that only copies or quotes this person is not sent any more.
    """
    referral_ids = select(models.Referral.id).where(
        (models.Referral.family_user_id == user.id) | (models.Referral.assignee_user_id == user.id)
    )
    relayed = select(models.RelayMessage.referral_id).where(
        models.RelayMessage.from_user_id == user.id
    )
    rows = await session.scalars(
        select(models.OutboxMessage).where(
            models.OutboxMessage.referral_id.in_(referral_ids.union(relayed))
        )
    )
    for row in rows:
        payload = dict(row.payload)
        pending = row.status == OutboxStatus.PENDING
        # Not addressed to the person (those are gone), so a relay row is their own words.
        own_words = str(payload.get("kind", "")).startswith("relay.")
        if pending and (own_words or _copies_from(row, user)):
            await session.delete(row)
            continue
        if not pending:
            payload.pop("from_chat_id", None)
            payload.pop("media", None)
        params = dict(payload.get("params") or {})
        payload["params"] = {
            key: "" if key in outbox.PERSONAL_PARAMS else value for key, value in params.items()
        }
        # A new dict: the JSON column only notices assignment, not in-place changes.
        row.payload = payload


async def _record_erasure(session: AsyncSession, now: dt.datetime, user: models.User) -> None:
    """Keep only what the law needs: consents given and withdrawn, and the erasure date."""
    consents = list(
        await session.scalars(
            select(models.Consent)
            .where(models.Consent.user_id == user.id)
            .order_by(models.Consent.id)
        )
    )
    today = now.date()
    if not consents:
        session.add(models.ErasureRecord(erased_on=today))
    for consent in consents:
        withdrawn = consent.revoked_at.date() if consent.revoked_at is not None else today
        session.add(
            models.ErasureRecord(
                consent_kind=consent.kind,
                consent_version=consent.version,
                consent_given_on=consent.granted_at.date(),
                consent_withdrawn_on=withdrawn,
                erased_on=today,
            )
        )


def _copies_from(row: models.OutboxMessage, user: models.User) -> bool:
    """A copy of one of the person's messages: from their chat, on their messenger (a copy
    across messengers names the source's in `media`)."""
    media = row.payload.get("media")
    source = media.get("channel") if isinstance(media, dict) else row.channel
    return source == user.channel and row.payload.get("from_chat_id") == user.messenger_id


def _mentions(node: Any, messenger_id: int) -> bool:
    """Whether a raw update names the person as its sender or its chat, at any depth."""
    if isinstance(node, dict):
        for key in ("from", "chat", "user"):
            who = node.get(key)
            if isinstance(who, dict) and who.get("id") == messenger_id:
                return True
        return any(_mentions(value, messenger_id) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(value, messenger_id) for value in node)
    return False


async def _drop_received_updates(session: AsyncSession, channel: str, messenger_id: int) -> None:
    """Polled updates still waiting to be handled (bot/polling.py) hold the person's words.

    The table holds only updates in flight or stuck after a failure, so reading it whole is
    cheap and dialect-neutral (no JSON path queries). The /forget update being handled now is
    among them: it is deleted once handled anyway.
    """
    rows = (
        await session.execute(
            select(models.ReceivedUpdate.update_id, models.ReceivedUpdate.payload).where(
                models.ReceivedUpdate.channel == channel
            )
        )
    ).all()
    ids = [update_id for update_id, payload in rows if _mentions(payload, messenger_id)]
    if ids:
        await session.execute(
            delete(models.ReceivedUpdate).where(
                models.ReceivedUpdate.channel == channel, models.ReceivedUpdate.update_id.in_(ids)
            )
        )
