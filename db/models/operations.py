"""Operational tables: feedback, search log, outbox, processed updates, digests, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_region_at", "region_code", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    measure_id: Mapped[str | None] = mapped_column(ForeignKey("measures.id"))
    need_id: Mapped[str | None] = mapped_column(ForeignKey("needs.id"))
    got_help: Mapped[str | None] = mapped_column(String(8))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    verdict: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class SearchLog(Base):
    """Searches and screenings; the ones with no result are the digest's gap signals."""

    __tablename__ = "search_log"
    __table_args__ = (
        Index("ix_search_log_region_at", "region_code", "at"),
        Index("ix_search_log_region_at_kind", "region_code", "at", "kind", "results", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    region_code: Mapped[str | None] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    query: Mapped[str] = mapped_column(String(500))
    results: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class OutboxMessage(Base):
    """A notification written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "not_before"),
        # The worker's "nothing older pending for this chat" check (0004; channel since 0010).
        Index("ix_outbox_chat_id", "chat_id", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # The recipient's messenger (`db.enums.Channel`): the worker sends through its bot.
    channel: Mapped[str] = mapped_column(String(16), server_default="telegram")
    chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    not_before: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    # First failure of the current run of transient errors: the give-up clock starts here.
    failing_since: Mapped[dt.datetime | None]


class ReceivedUpdate(Base):
    """Polling mode: an update kept from getUpdates until it is handled (see bot/polling.py).

    Written before the offset moves on, deleted once handled: after a crash the ones left
    here are handled at start-up, so nothing Telegram handed over is lost.
    """

    __tablename__ = "received_updates"

    # Update ids are per messenger: the key is (channel, update_id) since migration 0010.
    channel: Mapped[str] = mapped_column(
        String(16), primary_key=True, default="telegram", server_default="telegram"
    )
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime]


class ProcessedUpdate(Base):
    """Update ids already handled: a redelivered update is not processed twice.

    Each messenger numbers its own updates, so the key is (channel, update_id) (0010).
    """

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(
        String(16), primary_key=True, default="telegram", server_default="telegram"
    )
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[dt.datetime] = mapped_column(index=True)


class Digest(Base):
    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("region_code", "week"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    week: Mapped[str] = mapped_column(String(8))
    built_at: Mapped[dt.datetime]
    payload: Mapped[dict[str, Any]]


class DigestDelivery(Base):
    """One row per manager and week: the unique key is what makes delivery happen once.

    Claimed (`claimed_at`) before sending, marked `delivered_at` after: a claim left by a
    process that died in between is taken over once its lease has run out.
    """

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("digest_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delivered_at: Mapped[dt.datetime | None]
    claimed_at: Mapped[dt.datetime | None]


class AuditLog(Base):
    """Who opened or changed what (152-FZ accountability); holds ids, never texts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    details: Mapped[dict[str, Any] | None]


class DeadLetter(Base):
    """An update whose handling failed; after three failures it is not retried again.

    Holds ids and the error class only: the update itself (and its texts) is not kept.
    """

    __tablename__ = "dead_letters"

    # The messenger of the update and of `chat_id` (0010).
    channel: Mapped[str] = mapped_column(
        String(16), primary_key=True, default="telegram", server_default="telegram"
    )
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_type: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[dt.datetime]
    last_failed_at: Mapped[dt.datetime] = mapped_column(index=True)
