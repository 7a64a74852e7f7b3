"""A family's plan: the measures it marked, where it stands with each, the documents ticked.

A plan item is personal data of the family: it goes with the `users` row (`/forget` erases it
by the cascade) and holds only what the family chose on a button.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigIntPK


class PlanItem(Base):
    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("user_id", "measure_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # No foreign key: a measure withdrawn from the catalogue stays in the family's plan history.
    measure_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # db.enums.PlanStatus
    created_at: Mapped[dt.datetime]
    status_at: Mapped[dt.datetime]  # when the family last changed the status
    # The ticked documents, as their positions in the measure's `documents` list ("0", "2").
    documents_done: Mapped[list[str]]
