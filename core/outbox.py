"""Notifications go to the outbox in the caller's transaction; a worker sends them later.

Writing the message together with the state change that caused it means a crash can never
leave a changed referral without its notification (or a notification without the change).
Services never commit here: the calling use case does.

`OutboxNotifier` is the production `Notifier` port (core/ports.py): the referral and
consultation flows name a person, and only this module turns the person into an address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from db import models
from db.enums import OutboxStatus

# Outbox methods: "notify" renders a template for the recipient's language at send time;
# "copy" copies a person's media message (never forwards, so no account is revealed).
NOTIFY = "notify"
COPY = "copy"
# Params that carry what a person wrote (relayed text, captions, a request's description,
# a phone): emptied once the message is sent or given up, and on /forget.
PERSONAL_PARAMS = ("text", "caption", "description", "phone")


def notify(
    session: AsyncSession,
    clock: Clock,
    *,
    chat_id: int,
    channel: str,
    lang: str,
    kind: str,
    params: dict[str, Any] | None = None,
    referral_id: int | None = None,
    not_before: dt.datetime | None = None,
) -> models.OutboxMessage:
    """Queue a message of template `kind` (see handlers/notifications.py) to one chat.

    `channel` is the recipient's messenger (`user.channel`): the worker sends through its bot.
    """
    now = clock.now()
    row = models.OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        method=NOTIFY,
        payload={"kind": kind, "lang": lang, "params": params or {}},
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
        not_before=not_before or now,
        referral_id=referral_id,
    )
    session.add(row)
    return row


def copy(
    session: AsyncSession,
    clock: Clock,
    *,
    chat_id: int,
    channel: str,
    lang: str,
    from_chat_id: int,
    message_id: int,
    caption_kind: str,
    params: dict[str, Any],
    referral_id: int | None = None,
    media: dict[str, str] | None = None,
) -> models.OutboxMessage:
    """Queue a copy of a message (photo, document, voice) with a caption from a template.

    `media` (`core.relay_payload.Media.as_payload()`) names the file and the messenger it came
    from: a copy to another messenger cannot be a `copyMessage`, the worker downloads the file
    from the source's bot and uploads it to the recipient's.
    """
    now = clock.now()
    payload: dict[str, Any] = {
        "kind": caption_kind,
        "lang": lang,
        "params": params,
        "from_chat_id": from_chat_id,
        "message_id": message_id,
    }
    if media is not None:
        payload["media"] = media
    row = models.OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        method=COPY,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
        not_before=now,
        referral_id=referral_id,
    )
    session.add(row)
    return row


class OutboxNotifier:
    """The `Notifier` port on top of the outbox: a person's messages go to their chat."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def notify(
        self,
        session: AsyncSession,
        person: models.User,
        kind: str,
        params: dict[str, Any],
        *,
        referral_id: int | None = None,
        not_before: dt.datetime | None = None,
    ) -> None:
        notify(
            session,
            self._clock,
            chat_id=person.messenger_id,
            channel=person.channel,
            lang=person.language,
            kind=kind,
            params=params,
            referral_id=referral_id,
            not_before=not_before,
        )

    def copy(
        self,
        session: AsyncSession,
        person: models.User,
        *,
        from_chat_id: int,
        message_id: int,
        caption_kind: str,
        params: dict[str, Any],
        referral_id: int | None = None,
        media: dict[str, str] | None = None,
    ) -> None:
        copy(
            session,
            self._clock,
            chat_id=person.messenger_id,
            channel=person.channel,
            lang=person.language,
            from_chat_id=from_chat_id,
            message_id=message_id,
            caption_kind=caption_kind,
            params=params,
            referral_id=referral_id,
            media=media,
        )


async def given_up_count(
    session: AsyncSession, *, region_code: str, start: dt.datetime, end: dt.datetime | None
) -> int:
    """Rows given up in [start, end) (end None: up to now) about the region: its referrals
    or its people's chats."""
    Out = models.OutboxMessage
    of_region = or_(
        Out.referral_id.in_(
            select(models.Referral.id).where(models.Referral.region_code == region_code)
        ),
        select(models.User.id)
        .where(
            models.User.region_code == region_code,
            models.User.channel == Out.channel,
            models.User.messenger_id == Out.chat_id,
        )
        .exists(),
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Out)
        .where(
            Out.status == OutboxStatus.GIVEN_UP,
            Out.not_before >= start,
            Out.not_before < end if end is not None else true(),
            of_region,
        )
    )
    return int(count or 0)
