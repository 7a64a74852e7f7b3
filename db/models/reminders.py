"""Reminders a family agreed to: what was sent (each at most once) and the kinds it muted.

Both are personal data of the family: the rows go with the `users` row (ON DELETE CASCADE), so
`/forget` erases them with the rest.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class ReminderSent(Base):
    """One reminder queued to a family. The unique (user, key) is what makes "at most once"
    hold even when two runs of the job meet: the second insert fails and sends nothing."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        # The digest counts a region's reminders of a week.
        Index("ix_reminders_sent_region_at", "region_code", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "<kind>:<what it is about>", e.g. "child_1_5:2025-06" or "new_help:fed-x:1a2b…".
    key: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))  # core.reminders.kinds.ReminderKind
    # The measure the reminder points to, if any: a plan step marked for it later counts as
    # the reminder acted on (the digest).
    measure_id: Mapped[str | None] = mapped_column(String(64))
    region_code: Mapped[str | None] = mapped_column(String(8))
    sent_at: Mapped[dt.datetime]


class ReminderMute(Base):
    """«Не напоминать об этом»: a kind of reminder this family does not want any more."""

    __tablename__ = "reminder_mutes"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    muted_at: Mapped[dt.datetime]
