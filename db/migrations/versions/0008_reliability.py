"""outbox give-up clock, durable polling

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

An outbox row remembers when its current run of failures began, so it is retried for
OUTBOX_GIVE_UP_HOURS (72 h by default) and then given up visibly. In polling mode received
updates are kept in `received_updates` until handled, so a crash loses none of them. A digest
delivery is claimed before sending and marked delivered after, so a crash in between no longer
loses the week.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "received_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_received_updates")),
    )
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "delivered_at", existing_type=sa.DateTime(timezone=True), nullable=True
        )


def downgrade() -> None:
    # A claim never marked delivered: count it as delivered, the old schema cannot say less.
    op.execute("UPDATE digest_deliveries SET delivered_at = claimed_at WHERE delivered_at IS NULL")
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "delivered_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_column("claimed_at")
    op.drop_table("received_updates")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("failing_since")
