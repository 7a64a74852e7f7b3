"""manager tools

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The regional manager's toolkit: catalogue imports that can be restored, broadcasts to families
(their messages are outbox rows), surveys and their answers (one per family and survey).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=False),
        sa.Column("created_by_user_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("measure_id", sa.String(length=64), nullable=True),
        sa.Column("need_id", sa.String(length=64), nullable=True),
        sa.Column("municipality_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("skipped_blocked", sa.Integer(), nullable=False),
        sa.Column("first_outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("last_outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_broadcasts_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_broadcasts_region_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index("ix_broadcasts_region_at", ["region_code", "created_at"])
        batch_op.create_index(batch_op.f("ix_broadcasts_status"), ["status"], unique=False)

    op.create_table(
        "catalogue_imports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.Column("new", sa.JSON(), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
            name=op.f("fk_catalogue_imports_region_code_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_catalogue_imports_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_imports")),
    )
    with op.batch_alter_table("catalogue_imports", schema=None) as batch_op:
        batch_op.create_index("ix_catalogue_imports_region_at", ["region_code", "created_at"])

    op.create_table(
        "surveys",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("region_code", sa.String(length=8), nullable=False),
        sa.Column("created_by_user_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("need_id", sa.String(length=64), nullable=True),
        sa.Column("municipality_id", sa.String(length=64), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_surveys_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_surveys_region_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index("ix_surveys_region_at", ["region_code", "created_at"])

    op.create_table(
        "survey_answers",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("survey_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("option", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_answers_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_survey_answers_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("survey_id", "user_id", name=op.f("uq_survey_answers_survey_id")),
    )


def downgrade() -> None:
    op.drop_table("survey_answers")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("ix_surveys_region_at")
    op.drop_table("surveys")
    with op.batch_alter_table("catalogue_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_catalogue_imports_region_at")
    op.drop_table("catalogue_imports")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcasts_status"))
        batch_op.drop_index("ix_broadcasts_region_at")
    op.drop_table("broadcasts")
