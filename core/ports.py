"""What the core needs from the outside world, as protocols the shell implements.

The core decides *that* a person is told something, *when* a referral's next deadline falls
and *what time it is*; how a message reaches a messenger, how a deadline becomes a timer and
where the time comes from belong to the shell (bot/app.py wires the implementations). A second
messenger or a test double is then an adapter, not a change to the core.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: importing the clock port should not load the ORM
    from sqlalchemy.ext.asyncio import AsyncSession

    from db import models


class Clock(Protocol):
    """Where "now" comes from, so SLA and digest logic can be tested with a moved clock."""

    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""
        ...


class Timers(Protocol):
    """Where the next SLA check of a referral is scheduled (APScheduler in production)."""

    def set(self, referral_id: int, due_at: dt.datetime | None) -> None:
        """Run the referral's SLA check at `due_at`; None drops its pending check."""
        ...


class Notifier(Protocol):
    """Tells a person something, in the caller's transaction.

    The core names the person and a message template (`kind`: its text and buttons are the
    shell's, rendered in the person's language when sent), never a messenger's address, so
    the message is committed or dropped together with the state change that caused it.
    The caller decides whom to skip (e.g. people who blocked the bot).
    """

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
        """Queue template `kind` with `params` for `person`, sent no earlier than `not_before`."""
        ...

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
        """Pass on a message someone sent the bot (photo, document, voice), captioned by the
        template `caption_kind`. The source is a chat and message of the sender's messenger;
        for a person on another messenger `media` (`core.relay_payload`) names the file, so
        the shell can download and upload it instead of copying."""
        ...
