"""Manager toolkit tables: catalogue imports (restorable), broadcasts, surveys and answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class CatalogueImport(Base):
    """One applied spreadsheet (or a restore): the region's entries before and after it.

    `previous` is what "restore previous version" writes back; a restore stamps `restored_at`
    on the import it undid and is recorded as a row of its own (kind "restore").
    """

    __tablename__ = "catalogue_imports"
    __table_args__ = (Index("ix_catalogue_imports_region_at", "region_code", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]]
    previous: Mapped[dict[str, Any]]
    new: Mapped[dict[str, Any]]
    restored_at: Mapped[dt.datetime | None]


class Broadcast(Base):
    """An announcement to a region's families; its messages are outbox rows tagged with its id.

    The outbox rows of one broadcast lie between `first_outbox_id` and `last_outbox_id`, so the
    progress count reads a primary-key range instead of the whole outbox.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_region_at", "region_code", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime]
    text: Mapped[str] = mapped_column(Text)
    measure_id: Mapped[str | None] = mapped_column(String(64))
    need_id: Mapped[str | None] = mapped_column(String(64))
    municipality_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # Families already known to have blocked the bot: counted as blocked, never queued.
    skipped_blocked: Mapped[int] = mapped_column(Integer, default=0)
    first_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    last_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[dt.datetime | None]


class Survey(Base):
    """A short question with 2–6 options sent to a filtered set of a region's families."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_region_at", "region_code", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime]
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]]
    need_id: Mapped[str | None] = mapped_column(String(64))
    municipality_id: Mapped[str | None] = mapped_column(String(64))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[dt.datetime | None]


class SurveyAnswer(Base):
    """One answer per family and survey; answering again replaces the choice.

    After /forget the row stays without its user, so the counts do not change.
    """

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("survey_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    option: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[dt.datetime]
