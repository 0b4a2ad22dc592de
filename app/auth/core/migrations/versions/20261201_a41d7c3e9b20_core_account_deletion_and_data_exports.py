"""core: account deletion (grace period, restore) and data exports

Revision ID: a41d7c3e9b20
Revises: a7d3c2e1b905
Create Date: 2026-12-01 17:55:00.000000+00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a41d7c3e9b20"
down_revision: str | None = "a7d3c2e1b905"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("deletion_requested_at", _WHEN, nullable=True))
    op.add_column(
        "users",
        sa.Column("deletion_requested_by", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    )
    op.add_column("users", sa.Column("purge_after", _WHEN, nullable=True))
    op.create_index(op.f("ix_users_purge_after"), "users", ["purge_after"], unique=False)
    op.add_column(
        "pending_logins", sa.Column("restore_step", sa.String(length=8), server_default="", nullable=False)
    )
    op.create_table(
        "data_exports",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("archive", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("ready_at", _WHEN, nullable=True),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("downloaded_at", _WHEN, nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_data_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_data_exports_token_hash")),
    )
    op.create_index(op.f("ix_data_exports_user_id"), "data_exports", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_data_exports_user_id"), table_name="data_exports")
    op.drop_table("data_exports")
    op.drop_column("pending_logins", "restore_step")
    op.drop_index(op.f("ix_users_purge_after"), table_name="users")
    op.drop_column("users", "purge_after")
    op.drop_column("users", "deletion_requested_by")
    op.drop_column("users", "deletion_requested_at")
