"""Members' and invitations' webhook events, queued only while webhooks are on.

The organization pages, the domain join and the API call these; the webhooks feature
(`app.api.webhooks`) turns them into deliveries. Switched off (FEATURE_WEBHOOKS), nothing is
queued; removed from a fork (`scripts/remove_feature.py webhooks`), the fenced blocks go and
these become no-ops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.features import enabled
from app.settings import Settings

__all__ = ("announce_invitation", "announce_member")


async def announce_member(
    db: AsyncSession, settings: Settings, org_id: UUID, event: str, user_id: UUID, now: datetime, **extra: Any
) -> None:
    """`member.joined`, `member.left` or `member.role_changed` for the organization's endpoints."""
    # --- feature: webhooks
    if enabled(settings, "webhooks"):
        from app.api import webhooks  # app.api imports the organization pages' modules

        await webhooks.announce_member(db, org_id, event, user_id, now, **extra)
    # --- end feature: webhooks


async def announce_invitation(
    db: AsyncSession, settings: Settings, event: str, invitation: Any, now: datetime
) -> None:
    """`invitation.created`, `.accepted` or `.revoked` for the organization's endpoints."""
    # --- feature: webhooks
    if enabled(settings, "webhooks"):
        from app.api import webhooks

        await webhooks.announce_invitation(db, event, invitation, now)
    # --- end feature: webhooks
