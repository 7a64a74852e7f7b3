"""Catalogue tables: regions, municipalities, needs, measures, organisations, consultations.

Each catalogue row keeps the validated YAML entry in `data` (the source of truth for cards) and
the few columns queries filter on; `active=False` replaces deletion so history stays readable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Municipality(Base):
    __tablename__ = "municipalities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Need(Base):
    __tablename__ = "needs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Measure(Base):
    __tablename__ = "measures"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    # Publication date of the main source, and the day the entry was last compared with an
    # official source (None: never); `data` has the sources themselves.
    source_date: Mapped[dt.date | None] = mapped_column(Date)
    checked_on: Mapped[dt.date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MeasureNeed(Base):
    __tablename__ = "measure_needs"

    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), primary_key=True, index=True)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    serves_all_municipalities: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_on: Mapped[dt.date] = mapped_column(Date)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OrganizationNeed(Base):
    __tablename__ = "organization_needs"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), primary_key=True, index=True)


class OrganizationMunicipality(Base):
    __tablename__ = "organization_municipalities"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    municipality_id: Mapped[str] = mapped_column(
        ForeignKey("municipalities.id"), primary_key=True, index=True
    )


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"))
    format: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConsultationSlot(Base):
    """A bookable time of a consultation; booking links it to a referral of kind consultation."""

    __tablename__ = "consultation_slots"
    __table_args__ = (UniqueConstraint("consultation_id", "starts_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"), index=True)
    starts_at: Mapped[dt.datetime]
    referral_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
