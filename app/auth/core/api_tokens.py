"""API tokens: issue, authenticate, limit and revoke the bearer tokens of the JSON API [73][77][78].

A token reads `gth_<public id>_<secret>`: the prefix makes a leaked token easy for secret
scanners to spot, the 8-character public id is what lists, logs and mails show, and the secret
is 256 random bits. The database keeps only the SHA-256 of the whole token, like session tokens:
256 random bits cannot be guessed, so a plain hash suffices and a leaked table replays nothing.

- **Two owners.** A personal token acts as its user; an organization token belongs to one
  organization (created by a member holding `tokens:manage`) and keeps working when its creator
  leaves. Removing a member, though, revokes the organization tokens they created, since they saw
  the secret, and disabling a user stops their tokens at once [73].
- **Never more than the owner's rights.** A token carries scopes from the permission table. On
  every request a personal token's rights in an organization are its scopes *intersected with
  the user's current role*, read fresh, so a demotion or removal applies to the next call.
- **Bearer header only.** The token is read from `Authorization: Bearer` and nowhere else (never
  the query string, never a cookie): API routes are not reachable with a browser session [78].
- **Cheap on the hot path.** One statement finds the token, its owner's state and (for org
  routes) the caller's role; "last used" is written at most once a minute per token.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND
from sqlalchemy import bindparam, select, update

from app.auth.core.audit_log import audit
from app.auth.core.db import DB_STATE_KEY, autocommit_engine
from app.auth.core.limits import client_address, count_hit
from app.auth.core.models import ApiToken, Membership, Organization, OrgRole
from app.auth.core.orgs import PERMISSIONS, OrgContext
from app.auth.core.ratelimit import RateLimitExceeded, Rule
from app.auth.core.session_store import CurrentUser
from app.auth.core.tokens import token_digest
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = (
    "PERSONAL_SCOPES",
    "TOKEN_PREFIX",
    "TOKEN_SCOPES",
    "ApiPrincipal",
    "InvalidTokenRequestError",
    "IssuedToken",
    "ScopeDenied",
    "TokenRequired",
    "TokenSpec",
    "api_org_context",
    "authenticate",
    "issue_token",
    "list_tokens",
    "rate_limit_headers",
    "requires_scope",
    "requires_token",
    "revoke_token",
    "revoke_user_tokens",
)

TOKEN_PREFIX = "gth_"  # noqa: S105 (a prefix, not a secret)
PERSONAL_SCOPES = {
    "account:read": "Read your profile and your sessions",
    "sessions:manage": "Sign out your sessions",
}
"""Scopes only a personal token can carry (they act on the account, not on an organization)."""
TOKEN_SCOPES = {**PERSONAL_SCOPES, **PERMISSIONS}
"""Every scope a token may be given, with what it allows."""

_PUBLIC_ID_ALPHABET = string.ascii_lowercase + string.digits
_PUBLIC_ID_LENGTH = 8
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(rf"^{TOKEN_PREFIX}[a-z0-9]{{{_PUBLIC_ID_LENGTH}}}_[A-Za-z0-9_-]{{43}}$")
_NAME_MAX = 100
_RATE_RULE = "api.token"


class TokenRequired(HTTPException):
    """No valid bearer token: missing, malformed, unknown, expired, revoked or its owner disabled."""

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


class InvalidTokenRequestError(ValueError):
    """A token cannot be made as asked; the message says why (shown to the person)."""


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


@dataclass(frozen=True)
class TokenSpec:
    """What a new token should be: a name, scopes and a lifetime (None: the policy's default)."""

    name: str
    scopes: frozenset[str]
    ttl: timedelta | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A new token's row and its full value, which is shown once and never stored."""

    row: ApiToken
    value: str


# --- issue and revoke


def _new_value() -> tuple[str, str]:
    public_id = "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(_PUBLIC_ID_LENGTH))
    return public_id, f"{TOKEN_PREFIX}{public_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def _checked(spec: TokenSpec, security: Security, allowed: set[str] | frozenset[str]) -> TokenSpec:
    name = " ".join(spec.name.split())
    if not name:
        raise InvalidTokenRequestError("Give the token a name, so you can tell it apart later.")
    if len(name) > _NAME_MAX:
        raise InvalidTokenRequestError(f"Keep the name under {_NAME_MAX} characters.")
    unknown = sorted(spec.scopes - set(TOKEN_SCOPES))
    if unknown:
        raise InvalidTokenRequestError(f"Unknown scope: {unknown[0]}.")
    if not spec.scopes <= allowed:
        raise InvalidTokenRequestError("A token cannot have a permission you do not hold.")
    ttl = spec.ttl or security.policy.api_token_default_ttl
    if ttl <= timedelta(0) or ttl > security.policy.api_token_max_ttl:
        days = security.policy.api_token_max_ttl.days
        raise InvalidTokenRequestError(f"A token lives between one day and {days} days.")
    return replace(spec, name=name, ttl=ttl)


async def issue_token(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    spec: TokenSpec,
    *,
    org: OrgContext | None = None,
) -> IssuedToken:
    """A new personal token of the signed-in user, or with `org` a token of that organization.

    The caller's route is guarded by `requires_sudo` (and for `org`, `tokens:manage`). An
    organization token may only carry permissions its creator holds there; a personal token may
    name any scope, but each request caps it at the user's current rights. The owner is mailed.
    """
    security = security_of(request)
    user = request.user
    if org is not None:
        if not org.can("tokens:manage"):
            raise InvalidTokenRequestError("You do not have permission to manage this organization's tokens.")
        spec = _checked(spec, security, org.permissions)
    else:
        spec = _checked(spec, security, set(TOKEN_SCOPES))
    assert spec.ttl is not None
    public_id, value = _new_value()
    row = ApiToken(
        token_hash=token_digest(value),
        public_id=public_id,
        name=spec.name,
        user_id=None if org else user.id,
        org_id=org.org_id if org else None,
        created_by=user.id,
        scopes=sorted(spec.scopes),
        expires_at=security.clock.now() + spec.ttl,
        last_used_ip="",
    )
    db.add(row)
    await db.flush()
    await audit(
        db,
        request,
        "api_token.created",
        actor_id=user.id,
        user_id=None if org else user.id,
        org_id=org.org_id if org else None,
        target_type="api_token",
        target_id=str(row.id),
        public_id=public_id,
        scopes=row.scopes,
    )
    security.adapter.send_mail(
        db,
        to=user.email,
        template="api_token_created",
        context={
            "token_name": row.name,
            "public_id": public_id,
            "org_name": org.name if org else "",
            "scopes": row.scopes,
            "expires": row.expires_at.strftime("%d %B %Y"),
            "when": security.clock.now().strftime("%d %B %Y at %H:%M UTC"),
            "ip_address": client_address(request),
            "tokens_link": f"{security.base_url}/o/{org.slug}/tokens"
            if org
            else f"{security.base_url}/settings/tokens",
        },
    )
    return IssuedToken(row=row, value=value)


async def list_tokens(
    db: AsyncSession, *, user_id: UUID | None = None, org_id: UUID | None = None
) -> list[ApiToken]:
    """A user's personal tokens, or an organization's tokens, newest first (revoked ones included)."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc())
    query = query.where(ApiToken.org_id == org_id) if org_id else query.where(ApiToken.user_id == user_id)
    return list((await db.scalars(query)).all())


async def revoke_token(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    token_id: UUID,
    *,
    user_id: UUID | None = None,
    org_id: UUID | None = None,
) -> bool:
    """Revoke one token of `user_id` (personal) or `org_id`; False when there is none such live."""
    owner = ApiToken.org_id == org_id if org_id else ApiToken.user_id == user_id
    revoked = await db.scalar(
        update(ApiToken)
        .where(ApiToken.id == token_id, owner, ApiToken.revoked_at.is_(None))
        .values(revoked_at=security_of(request).clock.now())
        .returning(ApiToken.public_id)
    )
    if revoked is None:
        return False
    await audit(
        db,
        request,
        "api_token.revoked",
        actor_id=request.user.id if request.user else None,
        org_id=org_id,
        target_type="api_token",
        target_id=str(token_id),
        public_id=revoked,
    )
    return True


async def revoke_user_tokens(db: AsyncSession, user_id: UUID, now: datetime) -> int:
    """Revoke every personal token of a user (when the account is disabled); how many there were."""
    result = await db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiToken.id)
    )
    return len(result.all())


async def revoke_on_membership_end(
    db: AsyncSession, org_id: UUID, user_id: UUID, now: datetime, *, removed: bool
) -> None:
    """A membership ended: a removed member's organization tokens go with them [73].

    Someone who leaves of their own accord leaves the organization's tokens working (they belong
    to the organization); someone removed saw those secrets and is no longer trusted with them.
    Personal tokens need nothing: the next request finds no membership.
    """
    if removed:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.org_id == org_id, ApiToken.created_by == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


# --- authenticate each request

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
    """The caller for a presented token, or None when it is not a live token of an active owner."""
    if not _TOKEN_SHAPE.fullmatch(value):
        return None
    row = (await conn.execute(_lookup(security), {"digest": token_digest(value)})).first()
    now = security.clock.now()
    if row is None or now >= row.expires_at:
        return None
    if row.user_id is not None and not row.is_active:
        return None  # a disabled account's tokens stop with it [73]
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
            select(
                Organization.id,
                Organization.slug,
                Organization.name,
                Organization.personal,
                Organization.require_mfa,
                Organization.allowed_sign_in,
                Organization.session_max_age,
                Organization.domain_join,
                Membership.id.label("membership_id"),
                OrgRole.id.label("role_id"),
                OrgRole.key.label("role_key"),
                OrgRole.name.label("role_name"),
                OrgRole.permissions,
            )
            .outerjoin(
                Membership,
                (Membership.org_id == Organization.id) & (Membership.user_id == bindparam("user_id")),
            )
            .outerjoin(OrgRole, OrgRole.id == Membership.role_id)
            .where(Organization.slug == bindparam("slug"))
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
