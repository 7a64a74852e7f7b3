"""digest indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Indexes the weekly digest needs so each of its queries reads one region's week and nothing
else: new families by region and creation time.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_region_created", ["region_code", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_region_created")
