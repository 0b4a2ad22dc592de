"""The `audit_events` table. Rows are only ever inserted (a database trigger refuses UPDATE/DELETE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Identity, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class AuditEvent(UUIDv7Base):
    """Something security-relevant that happened, who did it, and the hash linking it to the previous event."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    """Position in the chain (assigned by the database, strictly increasing)."""
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    """Dotted name such as `auth.login.succeeded`."""
    outcome: Mapped[str] = mapped_column(String(20))
    """`success` or `failure`."""
    actor_id: Mapped[UUID | None] = mapped_column(default=None, index=True)
    impersonator_id: Mapped[UUID | None] = mapped_column(default=None)
    target_type: Mapped[str] = mapped_column(String(50), default="")
    target_id: Mapped[str] = mapped_column(String(100), default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Extra facts (at most 8 KB, no secret-looking keys)."""
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
