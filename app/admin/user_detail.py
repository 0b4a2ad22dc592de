"""Everything the admin console shows about one account, read in a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import or_, select

from app.admin.tokens import user_tokens
from app.auth.core.audit_export import AuditFilter, platform_events
from app.auth.core.models import AuditEvent, Membership, OAuthIdentity, Organization, OrgRole
from app.auth.core.platform_admin import admin_of
from app.auth.core.second_factor import Factors, factors_of
from app.auth.core.session_store import list_sessions
from app.auth.core.toolkit import security_of
from app.auth.models import User

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.models import AuthSession

__all__ = ("UserDetail", "load_user_detail")

RECENT_EVENTS = 20


@dataclass(frozen=True)
class UserDetail:
    """One account as the admin console shows it."""

    user: User
    is_admin: bool
    factors: Factors
    memberships: list[Any]
    sessions: list[AuthSession]
    providers: list[OAuthIdentity]
    tokens: list[Any]
    events: list[Any]
    now: datetime

    @property
    def actionable(self) -> bool:
        """Whether the console may act on it (never on an administrator)."""
        return not self.is_admin


async def load_user_detail(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID
) -> UserDetail | None:
    """The account with `user_id`, or None."""
    user = await db.get(User, user_id)
    if user is None:
        return None
    memberships = list(
        await db.execute(
            select(
                Organization.id,
                Organization.name,
                Organization.slug,
                Organization.deleted_at,
                OrgRole.name.label("role"),
            )
            .join(Membership, Membership.org_id == Organization.id)
            .join(OrgRole, OrgRole.id == Membership.role_id)
            .where(Membership.user_id == user_id)
            .order_by(Organization.name)
        )
    )
    providers = list(
        (
            await db.scalars(
                select(OAuthIdentity)
                .where(OAuthIdentity.user_id == user_id)
                .order_by(OAuthIdentity.created_at)
            )
        ).all()
    )
    events_query = platform_events(User, AuditFilter()).where(
        or_(AuditEvent.actor_id == user_id, AuditEvent.target_id == str(user_id))
    )
    events = list(await db.execute(events_query.limit(RECENT_EVENTS)))
    return UserDetail(
        user=user,
        is_admin=await admin_of(db, user_id) is not None,
        factors=await factors_of(db, user_id),
        memberships=memberships,
        sessions=await list_sessions(db, user_id, security_of(request)),
        providers=providers,
        tokens=await user_tokens(db, user_id),
        events=events,
        now=security_of(request).clock.now(),
    )
