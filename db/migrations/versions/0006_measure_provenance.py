"""measure provenance: source date and check date

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

`measures.verified_on` always held the main source's publication date, not the day anyone
checked the entry, so it is renamed `source_date` (values kept) and `checked_on` is added,
empty: a check is only recorded when one is known (the next `content load` fills it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.alter_column(
            "verified_on", new_column_name="source_date", existing_type=sa.Date(), nullable=True
        )
        batch_op.add_column(sa.Column("checked_on", sa.Date(), nullable=True))


def downgrade() -> None:
    measures = sa.table("measures", sa.column("source_date", sa.Date()))
    # The old column was required; an entry without a source date gets the day of downgrade.
    op.execute(
        measures.update()
        .where(measures.c.source_date.is_(None))
        .values(source_date=sa.func.current_date())
    )
    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.drop_column("checked_on")
        batch_op.alter_column(
            "source_date", new_column_name="verified_on", existing_type=sa.Date(), nullable=False
        )
