"""Platform administrators: who may open the admin console, and the guard that says so [74][90].

Being an administrator is a row in `platform_admins`, never an organization role: owning a
workspace gives no power over anyone else's account. Rows are written only by the command line
(`grant_admin` / `revoke_admin` behind `litestar admin grant|revoke`), so a fresh database has no
administrator and no web page can make one.

`requires_platform_admin` guards every `/admin` route. It answers 404 to everyone who is not an
administrator, signed out or not, htmx or not, so the console does not even confirm it exists. An
administrator without a second factor is sent to set one up first: a console behind a password
alone would make one phished password worth every account. While an administrator is signed in as
someone else the console is refused outright (403), even though the person they are acting as is
never an administrator [75]. Writes additionally carry `requires_sudo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_403_FORBIDDEN
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.db import DB_STATE_KEY, autocommit_engine
from app.auth.core.guards import ImpersonationRefused, SudoRequired
from app.auth.core.models import AuthSession, PlatformAdmin, TotpCredential, WebAuthnCredential
from app.auth.core.toolkit import security_of

__all__ = (
    "AdminGrant",
    "ImpersonationRefused",
    "SecondFactorEnrolmentRequired",
    "admin_grant",
    "admin_of",
    "grant_admin",
    "is_admin",
    "requires_platform_admin",
    "revoke_admin",
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AdminGrant:
    """The signed-in administrator's rights (`request.scope["platform_admin"]`)."""

    user_id: UUID
    can_impersonate: bool


class SecondFactorEnrolmentRequired(HTTPException):
    """An administrator without a second factor: the host sends them to set one up [74]."""

    status_code = HTTP_403_FORBIDDEN
    detail = "Administrators need two-step verification."


async def grant_admin(db: AsyncSession, user_id: UUID, *, can_impersonate: bool) -> None:
    """Make the user an administrator (or change their impersonation right)."""
    statement = insert(PlatformAdmin).values(user_id=user_id, can_impersonate=can_impersonate)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[PlatformAdmin.user_id], set_={"can_impersonate": can_impersonate}
        )
    )


async def revoke_admin(db: AsyncSession, user_id: UUID) -> bool:
    """Take the rights away; the impersonations they are running end with them. True if they had any."""
    removed = await db.execute(
        delete(PlatformAdmin).where(PlatformAdmin.user_id == user_id).returning(PlatformAdmin.id)
    )
    await db.execute(delete(AuthSession).where(AuthSession.impersonator_id == user_id))
    return removed.first() is not None


async def admin_of(db: Any, user_id: UUID) -> AdminGrant | None:
    """The user's administrator rights, or None."""
    row = (
        await db.execute(select(PlatformAdmin.can_impersonate).where(PlatformAdmin.user_id == user_id))
    ).first()
    return AdminGrant(user_id=user_id, can_impersonate=bool(row[0])) if row is not None else None


def is_admin(user_id: Any) -> Any:
    """A SQL condition: the user with this id (a column or value) is an administrator."""
    return exists().where(PlatformAdmin.user_id == user_id)


def admin_grant(connection: ASGIConnection[Any, Any, Any, Any]) -> AdminGrant:
    """The grant `requires_platform_admin` loaded for this request."""
    grant: AdminGrant = connection.scope["platform_admin"]  # type: ignore[typeddict-item]
    return grant


async def requires_platform_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Administrators with a second factor only; 404 for everyone else (one statement)."""
    user = connection.scope.get("user")
    current = connection.scope.get("auth")
    if user is None or current is None:
        raise NotFoundException()
    if current.impersonator_id is not None:
        raise ImpersonationRefused()
    security = security_of(connection)
    has_second_factor = or_(
        exists().where(TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)),
        exists().where(WebAuthnCredential.user_id == user.id),
    )
    query = select(PlatformAdmin.can_impersonate, has_second_factor).where(PlatformAdmin.user_id == user.id)
    async with autocommit_engine(connection.app.state[DB_STATE_KEY], security.extra).connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        # Logged, not audited: a GET must not write, and a probe is not an event in anyone's account [91].
        log.warning("admin.access_refused", user_id=str(user.id), path=connection.scope["path"])
        raise NotFoundException()
    if not row[1]:
        raise SecondFactorEnrolmentRequired()
    authenticated = current.authenticated_at
    if (
        authenticated is None
        or security.clock.now() - authenticated >= security.policy.admin_reauthentication_interval
    ):
        raise SudoRequired()
    connection.scope["platform_admin"] = AdminGrant(user_id=user.id, can_impersonate=bool(row[0]))  # type: ignore[typeddict-unknown-key]
