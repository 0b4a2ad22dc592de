"""core: organizations are deleted softly (deleted_at), then purged after a grace period

Revision ID: a7d3c2e1b905
Revises: 1a3d7dd91128
Create Date: 2026-12-01 17:40:00.000000+00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "a7d3c2e1b905"
down_revision: str | None = "1a3d7dd91128"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "organizations",
        sa.Column("deleted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    )
    # The purge job looks for deleted organizations only: a partial index keeps that cheap.
    op.create_index(
        "ix_organizations_deleted_at",
        "organizations",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_organizations_deleted_at", table_name="organizations")
    op.drop_column("organizations", "deleted_at")
