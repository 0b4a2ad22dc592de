"""API requests: the bearer token checked, counted and turned into rights, on every call [77][78].

`requires_token` (or `requires_scope(...)`, which includes it) guards every API route. It reads
the token from `Authorization: Bearer` only, finds it in one statement with its owner's state,
refuses it when unknown, expired, revoked or its owner disabled (401, never a redirect), counts
the call against the token's per-minute limit (429 past it; `RateLimit-*` headers always), and
leaves the caller in `scope["api"]`. `api_org_context` gives the token's rights in the
organization of the path, read fresh, so a demotion or removal applies to the next call. Tokens
are issued and revoked in `api_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND
from sqlalchemy import bindparam, select, update

from app.auth.core.api_tokens import PERSONAL_SCOPES, is_token_shaped
from app.auth.core.db import DB_STATE_KEY, autocommit_engine
from app.auth.core.jwt_tokens import authenticate_access
from app.auth.core.limits import client_address, count_hit
from app.auth.core.models import ApiToken, Membership, Organization, OrgRole
from app.auth.core.orgs import PERMISSIONS, OrgContext
from app.auth.core.ratelimit import RateLimitExceeded, Rule
from app.auth.core.session_store import CurrentUser
from app.auth.core.tenancy import OrgSuspended, org_context_columns
from app.auth.core.tokens import token_digest
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = (
    "ApiPrincipal",
    "OrgNotVisible",
    "ScopeDenied",
    "TokenRequired",
    "api_org_context",
    "authenticate",
    "principal_of",
    "rate_limit_headers",
    "requires_scope",
    "requires_token",
)

_RATE_RULE = "api.token"


class TokenRequired(HTTPException):
    """No valid bearer token: missing, malformed, unknown, expired, revoked or its owner disabled
    (or, with JWTs on, an access token that is forged, foreign, expired or of a revoked grant)."""

    status_code = HTTP_401_UNAUTHORIZED
    detail = "A valid API token is required in the Authorization header (Bearer)."

    def __init__(self) -> None:
        super().__init__(detail=self.detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class ScopeDenied(HTTPException):
    """The token (or its owner's current role) lacks the scope the route needs."""

    status_code = HTTP_403_FORBIDDEN

    def __init__(self, scope: str) -> None:
        super().__init__(detail=f"This token may not do that (it needs the {scope!r} scope).")
        self.scope = scope


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who is calling the API: the token, and the user or organization it acts for."""

    token_id: UUID
    public_id: str
    scopes: frozenset[str]
    user_id: UUID | None
    """The user of a personal token (None for an organization token)."""
    org_id: UUID | None
    """The organization of an organization token (None for a personal token)."""
    created_by: UUID | None

    @property
    def is_personal(self) -> bool:
        """Whether the token acts as a user (rather than for one organization)."""
        return self.user_id is not None


# --- each request

_LOOKUP_KEY = "api_tokens.lookup"


def _lookup(security: Security) -> Any:
    """One statement: the live token by digest, with its owner's address and state (built once)."""
    cached = security.extra.get(_LOOKUP_KEY)
    if cached is None:
        users = security.users
        cached = (
            select(
                ApiToken.id,
                ApiToken.public_id,
                ApiToken.user_id,
                ApiToken.org_id,
                ApiToken.created_by,
                ApiToken.scopes,
                ApiToken.expires_at,
                ApiToken.last_used_at,
                users.email,
                users.is_active,
                users.sign_in_locked_at,
                users.password_hash,
            )
            .outerjoin(users, users.id == ApiToken.user_id)
            .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
        )
        security.extra[_LOOKUP_KEY] = cached
    return cached


async def authenticate(
    conn: AsyncConnection, value: str, security: Security, ip_address: str
) -> tuple[ApiPrincipal, CurrentUser | None] | None:
    """The caller for a presented token, or None when it is not a live token of an active owner.

    With API JWTs switched on, an access token (`jwt_tokens`) is accepted too: it acts as its
    user with its grant's scopes, re-checked against the grant and the user on every call [79].
    """
    if not is_token_shaped(value):
        return await _authenticate_jwt(conn, value, security) if security.api_jwt is not None else None
    row = (await conn.execute(_lookup(security), {"digest": token_digest(value)})).first()
    now = security.clock.now()
    if row is None or now >= row.expires_at:
        return None
    if row.user_id is not None and (not row.is_active or row.sign_in_locked_at is not None):
        return None  # a disabled or locked account's tokens stop with it [73]
    if row.last_used_at is None or now - row.last_used_at >= security.policy.api_token_touch_interval:
        await conn.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id)
            .values(last_used_at=now, last_used_ip=ip_address[:45])
        )
    principal = ApiPrincipal(
        token_id=row.id,
        public_id=row.public_id,
        scopes=frozenset(row.scopes),
        user_id=row.user_id,
        org_id=row.org_id,
        created_by=row.created_by,
    )
    user = (
        CurrentUser(id=row.user_id, email=row.email, has_password=row.password_hash is not None)
        if row.user_id is not None
        else None
    )
    return principal, user


async def _authenticate_jwt(
    conn: AsyncConnection, value: str, security: Security
) -> tuple[ApiPrincipal, CurrentUser | None] | None:
    caller = await authenticate_access(conn, value, security)
    if caller is None:
        return None
    principal = ApiPrincipal(
        token_id=caller.grant_id,
        public_id=f"jwt_{caller.grant_id.hex[-8:]}",
        scopes=caller.scopes,
        user_id=caller.user_id,
        org_id=None,
        created_by=caller.user_id,
    )
    return principal, CurrentUser(id=caller.user_id, email=caller.email, has_password=caller.has_password)


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def requires_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every API route: a live bearer token, within its rate limit [77][78].

    Sets `scope["api"]` (the `ApiPrincipal`) and, for a personal token, `scope["user"]`. A browser
    session is never consulted (the session middleware skips `/api/`).
    """
    if connection.scope.get("api") is not None:
        return
    value = _bearer(connection)
    if value is None:
        raise TokenRequired()
    security = security_of(connection)
    engine = autocommit_engine(connection.app.state[DB_STATE_KEY], security.extra)
    async with engine.connect() as conn:
        found = await authenticate(conn, value, security, client_address(connection))
    if found is None:
        raise TokenRequired()
    principal, user = found
    connection.scope["api"] = principal  # type: ignore[typeddict-unknown-key]
    connection.scope["user"] = user
    await _count_request(connection, principal, security)


async def _count_request(
    connection: ASGIConnection[Any, Any, Any, Any], principal: ApiPrincipal, security: Security
) -> None:
    limit = security.policy.api_token_requests_per_minute
    rule = Rule(_RATE_RULE, limit, timedelta(minutes=1))
    now = security.clock.now()
    reset = 60 - now.second
    try:
        count = await count_hit(connection, rule, str(principal.token_id))
    except RateLimitExceeded as exc:
        connection.scope["api_rate"] = (limit, 0, exc.retry_after)  # type: ignore[typeddict-unknown-key]
        raise HTTPException(
            status_code=429,
            detail="This token made too many requests. Wait and try again.",
            headers={**_headers(limit, 0, exc.retry_after), "Retry-After": str(exc.retry_after)},
        ) from exc
    connection.scope["api_rate"] = (limit, max(0, limit - (count or 0)), reset)  # type: ignore[typeddict-unknown-key]


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{limit};w=60",
    }


def rate_limit_headers(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str]:
    """The `RateLimit-*` headers for this API request (empty before the token was counted)."""
    rate: tuple[int, int, int] | None = connection.scope.get("api_rate")  # type: ignore[assignment]
    return _headers(*rate) if rate else {}


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiPrincipal:
    """The request's `ApiPrincipal` (set by `requires_token`)."""
    principal: ApiPrincipal = connection.scope["api"]  # type: ignore[typeddict-item]
    return principal


def requires_scope(scope: str) -> Any:
    """A guard: the token carries `scope` (org permissions are re-checked against the role too)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        await requires_token(connection, handler)
        principal = principal_of(connection)
        if scope not in principal.scopes:
            raise ScopeDenied(scope)
        if scope in PERSONAL_SCOPES and not principal.is_personal:
            raise ScopeDenied(scope)

    guard.__name__ = f"requires_scope({scope!r})"
    guard.__qualname__ = guard.__name__
    return guard


class OrgNotVisible(HTTPException):
    """No organization by that slug that this token may reach."""

    status_code = HTTP_404_NOT_FOUND
    detail = "Not found"


_ORG_KEY = "api_tokens.org_context"


def _org_statement(security: Security) -> Any:
    cached = security.extra.get(_ORG_KEY)
    if cached is None:
        cached = (
            select(*org_context_columns())
            .outerjoin(
                Membership,
                (Membership.org_id == Organization.id) & (Membership.user_id == bindparam("user_id")),
            )
            .outerjoin(OrgRole, OrgRole.id == Membership.role_id)
            # A deleted organization is gone for tokens as for pages (until restored or purged).
            .where(Organization.slug == bindparam("slug"), Organization.deleted_at.is_(None))
        )
        security.extra[_ORG_KEY] = cached
    return cached


async def api_org_context(connection: ASGIConnection[Any, Any, Any, Any], slug: str) -> OrgContext:
    """The organization in the API path as this token may act in it, read fresh on every request.

    A personal token reaches the organizations its user belongs to, with the scopes its user's
    *current* role also holds; an organization token reaches only its own organization, with its
    scopes. Anything else is 404, exactly like an organization that does not exist.
    """
    principal = principal_of(connection)
    security = security_of(connection)
    engine = autocommit_engine(connection.app.state[DB_STATE_KEY], security.extra)
    async with engine.connect() as conn:
        row = (
            await conn.execute(_org_statement(security), {"slug": slug[:48], "user_id": principal.user_id})
        ).first()
    if row is None:
        raise OrgNotVisible()
    if principal.is_personal:
        if row.membership_id is None:
            raise OrgNotVisible()
        permissions = frozenset(row.permissions) & principal.scopes
        user_id = principal.user_id
    else:
        if row.id != principal.org_id:
            raise OrgNotVisible()
        permissions = principal.scopes & set(PERMISSIONS)
        user_id = principal.created_by
    if row.suspended_at is not None:  # closed by a platform administrator: to tokens as to pages
        raise OrgSuspended(row.name)
    return OrgContext(
        org_id=row.id,
        slug=row.slug,
        name=row.name,
        personal=row.personal,
        membership_id=row.membership_id,
        user_id=user_id,  # type: ignore[arg-type]  # None: an org token whose creator is gone
        role_id=row.role_id,
        role_key=row.role_key or "api_token",
        role_name=row.role_name or "API token",
        permissions=permissions,
        require_mfa=row.require_mfa,
        allowed_sign_in=tuple(row.allowed_sign_in),
        session_max_age=row.session_max_age,
        domain_join=row.domain_join,
    )
