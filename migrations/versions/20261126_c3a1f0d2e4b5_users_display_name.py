"""host: the users' display name (a host column on the core's users table)

Revision ID: c3a1f0d2e4b5
Revises: 70de48a5266c
Create Date: 2026-12-01 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3a1f0d2e4b5"
down_revision: str | None = "70de48a5266c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills rows that exist already; the model sets the value itself.
    op.add_column(
        "users", sa.Column("display_name", sa.String(length=100), nullable=False, server_default="")
    )
    op.alter_column("users", "display_name", server_default=None)


def downgrade() -> None:
    op.drop_column("users", "display_name")
