"""reminders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

`reminders_sent`: each reminder a family was sent, unique per (family, key), so a reminder
goes at most once however often the daily job runs; `reminder_mutes`: the kinds a family asked
not to be reminded of. Both go with the user (ON DELETE CASCADE): `/forget` erases them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reminders_sent",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("measure_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=8), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reminders_sent_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_reminders_sent_user_id")),
    )
    op.create_index(
        "ix_reminders_sent_region_at",
        "reminders_sent",
        ["region_code", "sent_at"],
        unique=False,
    )
    op.create_table(
        "reminder_mutes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("muted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reminder_mutes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_mutes")),
        sa.UniqueConstraint("user_id", "kind", name=op.f("uq_reminder_mutes_user_id")),
    )


def downgrade() -> None:
    op.drop_table("reminder_mutes")
    op.drop_index("ix_reminders_sent_region_at", table_name="reminders_sent")
    op.drop_table("reminders_sent")
