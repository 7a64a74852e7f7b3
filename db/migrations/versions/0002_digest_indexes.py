"""digest indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The weekly digest reads one region's week and nothing else: each index below turns one of its
queries into a range scan over that slice (most of them index-only), so the build time does not
grow with the years of history or with the other regions.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    # New families of a region in a week.
    ("users", "ix_users_region_created", ["region_code", "created_at"]),
    # Requests of a week by need and municipality, and the families behind them.
    (
        "referrals",
        "ix_referrals_region_created_need",
        ["region_code", "created_at", "need_id", "municipality_id", "family_user_id"],
    ),
    # Referrals accepted in a week: minutes to accept, per organisation.
    (
        "referrals",
        "ix_referrals_region_accepted",
        ["region_code", "accepted_at", "created_at", "organization_id"],
    ),
    # Open referrals of a region (the attention list).
    ("referrals", "ix_referrals_region_status", ["region_code", "status"]),
    # A week's events per action and organisation (organisations belong to one region).
    (
        "referral_events",
        "ix_referral_events_action_org_at",
        ["action", "organization_id", "at", "referral_id"],
    ),
    # Searches of a week: counts, gaps and active families without reading the rows.
    (
        "search_log",
        "ix_search_log_region_at_kind",
        ["region_code", "at", "kind", "results", "user_id"],
    ),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
