"""Audit events of the account journeys, recorded in the caller's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import from_request, record_event
from app.auth.security import Security


async def audit(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    action: str,
    *,
    outcome: str = "success",
    actor_id: UUID | None = None,
    user_id: UUID | None = None,
    **details: Any,
) -> None:
    """Record `action` about user `user_id` (the target), done by `actor_id` (default: the same user)."""
    security: Security = request.app.state.security
    record = from_request(
        request,
        action,
        outcome,
        actor_id=str(actor_id or user_id) if (actor_id or user_id) else None,
        target_type="user" if user_id else "",
        target_id=str(user_id) if user_id else "",
        details=details,
        clock=security.clock,
    )
    await record_event(db, record, max_detail_bytes=security.policy.audit_metadata_max_bytes)
