"""People: a `users` row exists only for those who consented or hold a role.

A family that declines consent browses anonymously: nothing about them is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class User(Base):
    __tablename__ = "users"
    # New families of a region in a week (the digest); added in migration 0002.
    __table_args__ = (
        Index("ix_users_region_created", "region_code", "created_at"),
        # A person is (messenger, their id there): the same number on Telegram and on MAX is
        # two different people (migration 0010).
        UniqueConstraint("channel", "messenger_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # `db.enums.Channel`: the messenger this row's id belongs to.
    channel: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")
    messenger_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    municipality_id: Mapped[str | None] = mapped_column(ForeignKey("municipalities.id"))
    # Version of the personal-data consent in force; NULL for staff who never gave it.
    consent_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    # Set when Telegram answers 403: the person blocked the bot.
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    # The same person's row on their other messenger, linked by a one-time code (/link).
    linked_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Consent(Base):
    """One row per grant; revoking stamps `revoked_at`, so the history of versions stays."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_user_kind", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class FamilyProfile(Base):
    """Screener answers (the PRODUCT.md §4 profile shape), saved only with consent."""

    __tablename__ = "family_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[dt.datetime]


class Membership(Base):
    """A role: volunteer/coordinator of an organisation, manager of a region, or admin."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_org_active", "organization_id", "active"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]


class Invite(Base):
    """A single-use, expiring deep-link token (`/start join-<token>`)."""

    __tablename__ = "invites"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    used_at: Mapped[dt.datetime | None]


class ErasureRecord(Base):
    """What 152-FZ needs kept after /forget: a consent, given and withdrawn, and the erasure.

    Dates only, and nothing else: no name, no Telegram id, no link to any other row, so the
    record proves the data was destroyed without leading back to whose it was.
    """

    __tablename__ = "erasure_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # NULL for staff who never gave a consent: the erasure itself is still recorded.
    consent_kind: Mapped[str | None] = mapped_column(String(32))
    consent_version: Mapped[str | None] = mapped_column(String(16))
    consent_given_on: Mapped[dt.date | None]
    consent_withdrawn_on: Mapped[dt.date | None]
    erased_on: Mapped[dt.date]


class LinkCode(Base):
    """A one-time code (`/link`): sent on the other messenger, it links the two rows."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
