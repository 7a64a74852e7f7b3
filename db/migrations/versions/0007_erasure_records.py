"""erasure records; no search text kept from people who did not consent

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

After /forget only what 152-FZ needs stays: which consent was given and withdrawn, and when
the data was destroyed (dates, nothing that leads back to the person). Search texts logged
without a family behind them (anonymous or already forgotten) are emptied: they were kept
word for word and could carry names and phone numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("consent_kind", sa.String(length=32), nullable=True),
        sa.Column("consent_version", sa.String(length=16), nullable=True),
        sa.Column("consent_given_on", sa.Date(), nullable=True),
        sa.Column("consent_withdrawn_on", sa.Date(), nullable=True),
        sa.Column("erased_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
    )
    op.execute("UPDATE search_log SET query = '' WHERE user_id IS NULL AND query != ''")


def downgrade() -> None:
    op.drop_table("erasure_records")
