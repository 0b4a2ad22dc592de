"""core: organizations opt into the security events their webhooks may be sent

Revision ID: c5e1f0a83d27
Revises: a41d7c3e9b20
Create Date: 2026-12-01 22:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c5e1f0a83d27"
down_revision: str | None = "a41d7c3e9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty for every existing organization: no member's security activity leaves the app until
    # an owner opts in.
    op.add_column(
        "organizations",
        sa.Column(
            "security_events",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
    )


def downgrade() -> None:
    op.drop_column("organizations", "security_events")
