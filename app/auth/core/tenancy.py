"""The organization in the URL, checked on every org-scoped request, and queries kept inside it [68][69].

Org pages live under `/o/{org_slug}/...`. `requires_org_permission("members:invite")` (or
`requires_org_member`) is the guard that states the rule. It loads, in one statement on its own
connection, the organization named by the slug together with the signed-in person's membership,
role, permissions and whether they have a second factor; then:

- no such organization, a deleted one (awaiting its purge), or the person is not a member →
  `OrgNotFound` (404: an organization one does not belong to looks exactly like one that does not
  exist);
- an old slug → `OrgMoved` (the host redirects to the new address);
- the organization's security policy is not met → `OrgPolicyUnmet` with the reason: a second
  factor is required and the person has none (they are sent to set one up), the session began
  in a way the organization does not allow (e.g. an emailed link), or it is older than the
  organization allows (sign in again);
- the role lacks the permission → `OrgPermissionDenied` (403).

The result is `request.scope["org"]`, an `OrgContext`. Org-scoped tables mix in `OrgScoped`, and
handlers read and write them only through `scoped(...)`/`get_scoped(...)`, which add
`org_id = <the context's org>` from the membership, never from the request [69].
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND
from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.db import DB_STATE_KEY, autocommit_engine
from app.auth.core.guards import requires_user
from app.auth.core.models import (
    Membership,
    Organization,
    OrgRole,
    OrgScoped,
    OrgSlugRedirect,
    TotpCredential,
    WebAuthnCredential,
)
from app.auth.core.orgs import OrgContext
from app.auth.core.toolkit import security_of

__all__ = (
    "OrgMoved",
    "OrgNotFound",
    "OrgPermissionDenied",
    "OrgPolicyUnmet",
    "OrgSuspended",
    "PolicyReason",
    "get_scoped",
    "org_of",
    "requires_org_member",
    "requires_org_permission",
    "scoped",
)

T = TypeVar("T", bound=OrgScoped)


class OrgNotFound(HTTPException):
    """No organization by that slug that the person belongs to."""

    status_code = HTTP_404_NOT_FOUND
    detail = "Not found"


class OrgMoved(HTTPException):
    """The slug is an organization's old address; `slug` is the current one."""

    status_code = HTTP_404_NOT_FOUND

    def __init__(self, slug: str) -> None:
        super().__init__(detail="Moved")
        self.slug = slug


class OrgPermissionDenied(HTTPException):
    """A member whose role lacks the permission the route needs."""

    status_code = HTTP_403_FORBIDDEN
    detail = "You do not have permission to do that in this organization."

    def __init__(self, permission: str) -> None:
        super().__init__(detail=self.detail)
        self.permission = permission


class PolicyReason(StrEnum):
    """Why an organization's security policy turned the request away."""

    NEEDS_SECOND_FACTOR = "needs_second_factor"
    SIGN_IN_METHOD = "sign_in_method"
    SESSION_TOO_OLD = "session_too_old"


class OrgPolicyUnmet(HTTPException):
    """The organization's security policy is not met by this person or session."""

    status_code = HTTP_403_FORBIDDEN

    def __init__(self, reason: PolicyReason, org_name: str) -> None:
        super().__init__(detail=reason.value)
        self.reason = reason
        self.org_name = org_name


class OrgSuspended(HTTPException):
    """A platform administrator suspended the organization: its pages are closed to every member."""

    status_code = HTTP_403_FORBIDDEN

    def __init__(self, org_name: str) -> None:
        super().__init__(detail="This organization is suspended.")
        self.org_name = org_name


_CONTEXT_KEY = "tenancy.context_statement"


def org_context_columns() -> tuple[Any, ...]:
    """What an `OrgContext` is built from: the organization, its policy and state, the membership
    and the role. The pages' lookup (below) and the API's (`api_auth`) select exactly these."""
    return (
        Organization.id,
        Organization.slug,
        Organization.name,
        Organization.personal,
        Organization.require_mfa,
        Organization.allowed_sign_in,
        Organization.session_max_age,
        Organization.domain_join,
        Organization.suspended_at,
        Membership.id.label("membership_id"),
        OrgRole.id.label("role_id"),
        OrgRole.key.label("role_key"),
        OrgRole.name.label("role_name"),
        OrgRole.permissions,
    )


def _context_statement(security: Any) -> Any:
    """One statement: the organization by slug, the caller's membership and role, their second factor."""
    cached = security.extra.get(_CONTEXT_KEY)
    if cached is None:
        user_id: Any = bindparam("user_id")
        has_totp = exists().where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
        has_passkey = exists().where(WebAuthnCredential.user_id == user_id)
        cached = (
            select(
                *org_context_columns(),
                or_(has_totp, has_passkey).label("has_second_factor"),
            )
            .join(Membership, (Membership.org_id == Organization.id) & (Membership.user_id == user_id))
            .join(OrgRole, OrgRole.id == Membership.role_id)
            .where(Organization.slug == bindparam("slug"), Organization.deleted_at.is_(None))
        )
        security.extra[_CONTEXT_KEY] = cached
    return cached


async def load_org_context(connection: ASGIConnection[Any, Any, Any, Any]) -> OrgContext:
    """The `OrgContext` for the slug in the path and the signed-in user (cached on the request)."""
    cached = connection.scope.get("org")
    if isinstance(cached, OrgContext):
        return cached
    slug = str(connection.path_params.get("org_slug", ""))
    if not slug or len(slug) > 48:
        raise OrgNotFound()
    security = security_of(connection)
    engine = autocommit_engine(connection.app.state[DB_STATE_KEY], security.extra)
    user = connection.scope["user"]
    async with engine.connect() as conn:
        row = (await conn.execute(_context_statement(security), {"slug": slug, "user_id": user.id})).first()
        if row is None:
            # Only members learn where it went: to anyone else an old address is not found,
            # like any address of an organization they do not belong to.
            moved = await conn.scalar(
                select(Organization.slug)
                .join(OrgSlugRedirect, OrgSlugRedirect.org_id == Organization.id)
                .join(Membership, (Membership.org_id == Organization.id) & (Membership.user_id == user.id))
                .where(OrgSlugRedirect.slug == slug, Organization.deleted_at.is_(None))
            )
            if moved is not None and connection.scope.get("method") in ("GET", "HEAD"):
                raise OrgMoved(moved)
            raise OrgNotFound()
    auth = connection.scope["auth"]
    now = security.clock.now()
    if row.suspended_at is not None:
        raise OrgSuspended(row.name)
    if row.require_mfa and not row.has_second_factor:
        raise OrgPolicyUnmet(PolicyReason.NEEDS_SECOND_FACTOR, row.name)
    if row.allowed_sign_in and auth.kind not in row.allowed_sign_in:
        raise OrgPolicyUnmet(PolicyReason.SIGN_IN_METHOD, row.name)
    if row.session_max_age is not None and (now - auth.created_at).total_seconds() > row.session_max_age:
        raise OrgPolicyUnmet(PolicyReason.SESSION_TOO_OLD, row.name)
    context = OrgContext(
        org_id=row.id,
        slug=row.slug,
        name=row.name,
        personal=row.personal,
        membership_id=row.membership_id,
        user_id=user.id,
        role_id=row.role_id,
        role_key=row.role_key,
        role_name=row.role_name,
        permissions=frozenset(row.permissions),
        require_mfa=row.require_mfa,
        allowed_sign_in=tuple(row.allowed_sign_in),
        session_max_age=row.session_max_age,
        domain_join=row.domain_join,
    )
    connection.scope["org"] = context  # type: ignore[typeddict-unknown-key]
    return context


async def requires_org_member(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Signed in and a member of the organization in the URL, its security policy met."""
    await requires_user(connection, handler)
    await load_org_context(connection)


def requires_org_permission(permission: str) -> Any:
    """A guard: a member of the URL's organization whose role holds `permission`."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        await requires_user(connection, handler)
        context = await load_org_context(connection)
        if not context.can(permission):
            raise OrgPermissionDenied(permission)

    guard.__name__ = f"requires_org_permission({permission!r})"
    guard.__qualname__ = guard.__name__
    guard.permission = permission  # type: ignore[attr-defined]
    return guard


def org_of(connection: ASGIConnection[Any, Any, Any, Any]) -> OrgContext:
    """The request's `OrgContext` (set by the org guards)."""
    context: OrgContext = connection.scope["org"]  # type: ignore[typeddict-item]
    return context


def scoped(model: type[T], context: OrgContext) -> Select[Any]:
    """`SELECT model WHERE org_id = <the caller's organization>`: the only way to query org data [69]."""
    return select(model).where(model.org_id == context.org_id)


async def get_scoped(db: AsyncSession, model: type[T], context: OrgContext, object_id: UUID) -> T | None:
    """One row of `model` by id, only if it belongs to the caller's organization (else None → 404)."""
    row: T | None = await db.scalar(scoped(model, context).where(model.id == object_id))  # type: ignore[attr-defined]
    return row
