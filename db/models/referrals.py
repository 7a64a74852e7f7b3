"""Referrals: a family's request routed to one organisation at a time, with its audit trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_region_created", "region_code", "created_at"),
        Index("ix_referrals_status_org", "status", "organization_id"),
        # The digest's week slices (migration 0002): covering indexes, so a week is counted
        # without reading the rows.
        Index(
            "ix_referrals_region_created_need",
            "region_code",
            "created_at",
            "need_id",
            "municipality_id",
            "family_user_id",
        ),
        Index(
            "ix_referrals_region_accepted",
            "region_code",
            "accepted_at",
            "created_at",
            "organization_id",
        ),
        Index("ix_referrals_region_status", "region_code", "status"),
    )

    # The id is the number families and volunteers see ("заявка №123").
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    municipality_id: Mapped[str | None] = mapped_column(ForeignKey("municipalities.id"))
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"))
    # NULL after /forget: the anonymous row still counts in the digest.
    family_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    description: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    measure_id: Mapped[str | None] = mapped_column(ForeignKey("measures.id"))
    consultation_slot_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_slots.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    offered_at: Mapped[dt.datetime | None]
    accepted_at: Mapped[dt.datetime | None]
    first_contact_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    # The next SLA check (reminder, re-offer, alert); indexed so a sweep finds due ones fast.
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    sla_stage: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every transition: the compare-and-set that lets only the first accept win.
    version: Mapped[int] = mapped_column(Integer, default=0)


class ReferralEvent(Base):
    __tablename__ = "referral_events"
    __table_args__ = (
        Index("ix_referral_events_action_at", "action", "at"),
        Index(
            "ix_referral_events_action_org_at", "action", "organization_id", "at", "referral_id"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    at: Mapped[dt.datetime]
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    reason: Mapped[str | None] = mapped_column(String(32))


class ReferralOffer(Base):
    """Which organisations a referral was offered to, so routing never offers twice."""

    __tablename__ = "referral_offers"
    __table_args__ = (
        # An organisation's latest offers, newest first: its response record for routing
        # reads a fixed number of them, however long the history (migration 0005).
        Index("ix_referral_offers_org_id", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    offered_at: Mapped[dt.datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]


class RelayMessage(Base):
    """A message relayed between family and volunteer; content is not stored, only the fact."""

    __tablename__ = "relay_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime]
