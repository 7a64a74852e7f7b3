"""offers by organisation, newest first

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Routing ranks organisations by how many of their latest offers they accepted; the index on
(organization_id, id) reads those offers directly instead of every offer ever made, and
replaces the single-column index it starts with.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_offers", schema=None) as batch_op:
        batch_op.create_index("ix_referral_offers_org_id", ["organization_id", "id"], unique=False)
        batch_op.drop_index("ix_referral_offers_organization_id")


def downgrade() -> None:
    with op.batch_alter_table("referral_offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_offers_organization_id", ["organization_id"], unique=False
        )
        batch_op.drop_index("ix_referral_offers_org_id")
