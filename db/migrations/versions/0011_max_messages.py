"""MAX message ids

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

MAX gives messages string ids (`mid`) and aiogram handles messages by integer ids:
`max_messages` keeps, for every MAX message the bot sends or receives, the integer derived
from its mid, so edits and deletes find the message after a restart too. Rows carry the
person's MAX id: `/forget` deletes them, retention drops old ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "max_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("mid", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_max_messages")),
        sa.UniqueConstraint("mid", name=op.f("uq_max_messages_mid")),
    )
    op.create_index(op.f("ix_max_messages_chat_id"), "max_messages", ["chat_id"], unique=False)
    op.create_index(
        op.f("ix_max_messages_created_at"), "max_messages", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_max_messages_created_at"), table_name="max_messages")
    op.drop_index(op.f("ix_max_messages_chat_id"), table_name="max_messages")
    op.drop_table("max_messages")
