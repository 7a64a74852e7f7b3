"""people, messages and updates know their messenger

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A second messenger (MAX) next to Telegram (issue 16). A person is (channel, id in that
messenger): `users.channel`, unique together with the id. Outbox rows carry the recipient's
channel, and update ids (processed, received, dead letters) are keyed per channel, because
each messenger numbers its own. Existing rows are Telegram's (the server default). A person
on both messengers may link the two rows (`users.linked_user_id`) with a one-time code
(`link_codes`). `users.telegram_id` becomes `messenger_id`: it is the id in `channel`'s
messenger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPDATE_TABLES = ("processed_updates", "received_updates", "dead_letters")


def _channel() -> sa.Column[str]:
    return sa.Column("channel", sa.String(length=16), server_default="telegram", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(_channel())
        batch_op.drop_constraint("uq_users_telegram_id", type_="unique")
        batch_op.create_unique_constraint("uq_users_channel", ["channel", "telegram_id"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(_channel())
        batch_op.drop_index("ix_outbox_chat_id")
        batch_op.create_index("ix_outbox_chat_id", ["chat_id", "channel", "id"], unique=False)
    for table in UPDATE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_channel())
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["channel", "update_id"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "linked_user_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_users_linked_user_id_users"),
            "users",
            ["linked_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_link_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_link_codes")),
    )
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_codes_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "telegram_id",
            new_column_name="messenger_id",
            existing_type=sa.BigInteger(),
            existing_nullable=False,
        )


def downgrade() -> None:
    # The old schema knows one messenger. People of another cannot be folded into it (their
    # ids would be taken for Telegram's), so a database that has any is not downgraded;
    # technical rows of another messenger are simply dropped.
    others = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM users WHERE channel <> 'telegram'")
    )
    if others:
        raise RuntimeError(
            f"downgrade 0010: {others} people are not on Telegram; erase them first"
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "messenger_id",
            new_column_name="telegram_id",
            existing_type=sa.BigInteger(),
            existing_nullable=False,
        )
    for table in (*UPDATE_TABLES, "outbox"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE channel <> 'telegram'"))
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_codes_user_id"))
    op.drop_table("link_codes")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_linked_user_id_users"), type_="foreignkey")
        batch_op.drop_column("linked_user_id")
    for table in reversed(UPDATE_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["update_id"])
            batch_op.drop_column("channel")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat_id")
        batch_op.create_index("ix_outbox_chat_id", ["chat_id", "id"], unique=False)
        batch_op.drop_column("channel")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_channel", type_="unique")
        batch_op.create_unique_constraint("uq_users_telegram_id", ["telegram_id"])
        batch_op.drop_column("channel")
