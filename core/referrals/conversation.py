"""The conversation between a family and its volunteer, relayed through the bot.

Neither side sees the other's account: text is re-sent, media copied (never forwarded), both
through the `Notifier` port in the transaction that records the message. Who may write and to
whom is re-read from the DB on every message. The volunteer's first message starts the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.referrals import queries, transitions
from core.referrals.context import Context, Outcome
from db import models
from db.enums import ReferralStatus

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
    elif await queries.may_work_on(session, referral, sender):
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
    """Pass one message to the other side through the notifier: copied, never forwarded.

    `media` names the file for a recipient on another messenger (`core.relay_payload`).
    """
    target = await relay_target(session, referral_id, sender)
    if isinstance(target, Outcome):
        return target
    if target.side == "volunteer" and not await transitions.mark_contacted(
        session, ctx, target.referral, sender
    ):
        # The referral changed since it was read (a cancel, say): look again, it may be closed.
        await session.refresh(sender)  # the rollback expired it; the caller still uses it
        target = await relay_target(session, referral_id, sender)
        if isinstance(target, Outcome):
            return target
        if not await transitions.mark_contacted(session, ctx, target.referral, sender):
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
        ctx.notifier.notify(
            session,
            target.recipient,
            "relay.text",
            {**params, "text": text},
            referral_id=referral.id,
        )
    else:
        ctx.notifier.copy(
            session,
            target.recipient,
            from_chat_id=from_chat_id,
            message_id=message_id,
            caption_kind="relay.caption",
            params={**params, "caption": caption or ""},
            referral_id=referral.id,
            media=media,
        )
    await session.commit()
    return Outcome.OK
