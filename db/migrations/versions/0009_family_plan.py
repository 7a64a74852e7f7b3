"""a family's plan

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

`plan_items`: the measures a family marked (planned, applied, receiving, refused, not
needed) with the documents it ticked. Rows go with the user (ON DELETE CASCADE), so `/forget`
erases the plan with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("measure_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("documents_done", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_plan_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_items")),
        sa.UniqueConstraint("user_id", "measure_id", name=op.f("uq_plan_items_user_id")),
    )
    op.create_index(op.f("ix_plan_items_user_id"), "plan_items", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_items_user_id"), table_name="plan_items")
    op.drop_table("plan_items")
