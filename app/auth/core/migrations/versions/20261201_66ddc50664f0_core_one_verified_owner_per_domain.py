"""core: one verified owner per domain

A partial unique index: at most one organization holds a given domain verified.

Revision ID: 66ddc50664f0
Revises: e94e72f68c94
Create Date: 2026-12-01 15:49:25.052843+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "66ddc50664f0"
down_revision: str | None = "e94e72f68c94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_org_domains_verified_domain",
        "org_domains",
        ["domain"],
        unique=True,
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_org_domains_verified_domain",
        table_name="org_domains",
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )
