"""API tokens in the console: a user's (personal, and the organization ones they made) and an
organization's, each revocable with a reason.

Revoking goes through the core's `revoke_token`, scoped to the owner in the URL, so a token id
from another account or organization revokes nothing; the event names the administrator and
carries the reason.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post
from litestar.params import FromPath
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.api_tokens import revoke_token
from app.auth.core.guards import requires_sudo
from app.auth.core.models import ApiToken, Organization
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.routes.common import FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import see_other

__all__ = ("AdminTokensController", "org_tokens", "user_tokens")

_COLUMNS = (
    ApiToken.id, ApiToken.name, ApiToken.public_id, ApiToken.scopes, ApiToken.created_at,
    ApiToken.last_used_at, ApiToken.expires_at, ApiToken.revoked_at, ApiToken.org_id,
    Organization.name.label("org_name"),
)  # fmt: skip


async def user_tokens(db: AsyncSession, user_id: UUID) -> list[Any]:
    """The user's personal tokens and the organization tokens they created, newest first (one statement)."""
    return list(
        await db.execute(
            select(*_COLUMNS)
            .outerjoin(Organization, Organization.id == ApiToken.org_id)
            .where(or_(ApiToken.user_id == user_id, ApiToken.created_by == user_id))
            .order_by(ApiToken.created_at.desc())
        )
    )


async def org_tokens(db: AsyncSession, org_id: UUID) -> list[Any]:
    """The organization's tokens, newest first (one statement)."""
    return list(
        await db.execute(
            select(*_COLUMNS)
            .join(Organization, Organization.id == ApiToken.org_id)
            .where(ApiToken.org_id == org_id)
            .order_by(ApiToken.created_at.desc())
        )
    )


def _reason(request: Request[Any, Any, Any], data: FormData) -> str | None:
    reason = " ".join(data.get("reason", "").split())[:500]
    if len(reason) < 3:
        flash(request, "Give a reason for revoking the token.", "error")
        return None
    return reason


class AdminTokensController(Controller):
    """Revoking someone's API token."""

    path = "/admin"
    guards = [requires_platform_admin]
    include_in_schema = False

    @post(
        "/users/{user_id:uuid}/tokens/{token_id:uuid}/revoke",
        name="admin_user_token_revoke",
        guards=[requires_sudo],
    )
    async def revoke_personal(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        user_id: FromPath[UUID],
        token_id: FromPath[UUID],
        data: FormData,
    ) -> Response[Any]:
        """Revoke one of the user's personal tokens."""
        back = f"/admin/users/{user_id}"
        reason = _reason(request, data)
        if reason is not None:
            done = await revoke_token(db_session, request, token_id, user_id=user_id, reason=reason)
            _said(request, done)
        return see_other(request, back)

    @post(
        "/orgs/{org_id:uuid}/tokens/{token_id:uuid}/revoke",
        name="admin_org_token_revoke",
        guards=[requires_sudo],
    )
    async def revoke_org(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org_id: FromPath[UUID],
        token_id: FromPath[UUID],
        data: FormData,
    ) -> Response[Any]:
        """Revoke one of the organization's tokens (back to the page it was revoked from)."""
        back = _back(data, f"/admin/orgs/{org_id}")
        reason = _reason(request, data)
        if reason is not None:
            done = await revoke_token(db_session, request, token_id, org_id=org_id, reason=reason)
            _said(request, done)
        return see_other(request, back)


def _said(request: Request[Any, Any, Any], done: bool) -> None:
    if done:
        flash(request, "The token is revoked: its next request is refused.", "success")
    else:
        flash(request, "That token was already revoked.", "info")


def _back(data: FormData, default: str) -> str:
    """A user page when the form came from one (a fixed shape, never an arbitrary address)."""
    back = str(data.get("back", ""))
    prefix = "/admin/users/"
    if back.startswith(prefix):
        try:
            return prefix + str(UUID(back.removeprefix(prefix)))
        except ValueError:
            return default
    return default
