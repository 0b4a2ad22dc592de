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

This module issues and revokes; `api_auth` checks tokens on each request (the guards).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select, update

from app.auth.core.audit_log import audit
from app.auth.core.limits import client_address
from app.auth.core.models import ApiToken
from app.auth.core.orgs import PERMISSIONS, OrgContext
from app.auth.core.tokens import token_digest
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = (
    "PERSONAL_SCOPES",
    "TOKEN_PREFIX",
    "TOKEN_SCOPES",
    "InvalidTokenRequestError",
    "IssuedToken",
    "TokenSpec",
    "is_token_shaped",
    "issue_token",
    "list_tokens",
    "revoke_on_membership_end",
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


class InvalidTokenRequestError(ValueError):
    """A token cannot be made as asked; the message says why (shown to the person)."""


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


def is_token_shaped(value: str) -> bool:
    """Whether `value` could be a token we made (checked before any lookup)."""
    return _TOKEN_SHAPE.fullmatch(value) is not None


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
    reason: str = "",
) -> bool:
    """Revoke one token of `user_id` (personal) or `org_id`; False when there is none such live.

    `reason` is recorded with the event (the admin console asks for one: it acts on someone else's token).
    """
    owner = ApiToken.org_id == org_id if org_id else ApiToken.user_id == user_id
    revoked = await db.scalar(
        update(ApiToken)
        .where(ApiToken.id == token_id, owner, ApiToken.revoked_at.is_(None))
        .values(revoked_at=security_of(request).clock.now())
        .returning(ApiToken.public_id)
    )
    if revoked is None:
        return False
    details: dict[str, Any] = {"public_id": revoked, "reason": reason} if reason else {"public_id": revoked}
    await audit(
        db,
        request,
        "api_token.revoked",
        actor_id=request.user.id if request.user else None,
        org_id=org_id,
        target_type="api_token",
        target_id=str(token_id),
        **details,
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
