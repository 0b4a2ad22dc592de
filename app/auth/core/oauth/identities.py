"""Identities linked to accounts, the provider tokens some of them keep, and unlinking [64]-[66].

An identity is found by (issuer, subject) only. Its address is what the provider last said, kept
for the person to recognise the connection; it never finds an account.

**Tokens** [66]. Kept only for providers configured with `store_tokens` (off by default: most
products need the sign-in, not the provider's API). Sealed with the core's AES-256-GCM cipher
(random 96-bit nonce, key id for rotation) with associated data naming the user, the provider and
the row, so a ciphertext copied into another row does not open: the link then counts as broken
(the tokens are dropped), never as someone else's tokens. `provider_access_token` refreshes an
expired access token on demand. Unlinking deletes the row, tokens and all.

**The last way in** [65]. An account must keep a way to sign in: a password, another identity, or
a passkey. Unlinking takes the user's row lock first, so two unlinks at once cannot both pass the
check and leave nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.crypto import DecryptionError
from app.auth.core.models import OAuthIdentity, UserSecurityColumns, WebAuthnCredential
from app.auth.core.notices import notice_context
from app.auth.core.oauth.discovery import ProviderUnreachableError
from app.auth.core.oauth.exchange import Assertion, ProviderRefusedError, Tokens, refresh_tokens
from app.auth.core.oauth.providers import Provider
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "ConnectedAccounts",
    "Unlinked",
    "connected_accounts",
    "disconnect",
    "find_identity",
    "keep_tokens",
    "notify_connection_changed",
    "provider_access_token",
    "record_sign_in",
    "unlink_identity",
)

REFRESH_AHEAD = timedelta(seconds=60)
"""An access token this close to expiry is refreshed before use."""


async def find_identity(db: AsyncSession, issuer: str, subject: str) -> OAuthIdentity | None:
    """The identity the provider's (issuer, subject) names, if linked [64]."""
    return await db.scalar(
        select(OAuthIdentity).where(OAuthIdentity.issuer == issuer, OAuthIdentity.subject == subject)
    )


def _context(identity: OAuthIdentity, which: str) -> bytes:
    """Associated data binding a sealed token to its user, provider and row [66]."""
    return b"|".join(
        (
            b"oauth-token",
            identity.user_id.bytes,
            identity.provider.encode(),
            identity.id.bytes,
            which.encode(),
        )
    )


def keep_tokens(security: Security, provider: Provider, identity: OAuthIdentity, tokens: Tokens) -> None:
    """Seal the provider's tokens into the (flushed) row, or keep none when not configured to."""
    if not provider.store_tokens:
        identity.access_token_sealed = identity.refresh_token_sealed = identity.token_expires_at = None
        return
    seal = security.at_rest.seal
    identity.access_token_sealed = seal(tokens.access_token.encode(), _context(identity, "access"))
    identity.refresh_token_sealed = (
        seal(tokens.refresh_token.encode(), _context(identity, "refresh")) if tokens.refresh_token else None
    )
    identity.token_expires_at = tokens.expires_at


def record_sign_in(
    security: Security, provider: Provider, identity: OAuthIdentity, assertion: Assertion
) -> None:
    """The provider vouched for this identity again: what it says now, and its fresh tokens."""
    identity.email = assertion.email[:320]
    identity.email_verified = assertion.email_verified
    identity.last_used_at = security.clock.now()
    keep_tokens(security, provider, identity, assertion.tokens)


def _forget_tokens(identity: OAuthIdentity) -> None:
    identity.access_token_sealed = identity.refresh_token_sealed = identity.token_expires_at = None


async def provider_access_token(db: AsyncSession, security: Security, identity: OAuthIdentity) -> str | None:
    """A live access token for calling the provider's API, refreshed when it has expired.

    None when no token is kept, the provider refuses to refresh, or a sealed value does not open
    in this row (tampered, or copied from another): the link is then treated as broken and its
    tokens are dropped. The caller commits.
    """
    provider = security.oauth.get(identity.provider)
    if provider is None or identity.access_token_sealed is None:
        return None
    try:
        access = security.at_rest.open(identity.access_token_sealed, _context(identity, "access")).decode()
        refresh = (
            security.at_rest.open(identity.refresh_token_sealed, _context(identity, "refresh")).decode()
            if identity.refresh_token_sealed
            else None
        )
    except DecryptionError:
        _forget_tokens(identity)
        return None
    expires_at = identity.token_expires_at
    if expires_at is None or security.clock.now() + REFRESH_AHEAD < expires_at:
        return access
    if refresh is None:
        return None
    try:
        tokens = await refresh_tokens(security, provider, refresh)
    except ProviderRefusedError:
        _forget_tokens(identity)
        return None
    except ProviderUnreachableError:
        return None
    keep_tokens(security, provider, identity, tokens)
    await db.flush()
    return tokens.access_token


@dataclass(frozen=True)
class ConnectedAccounts:
    """The identities of a user, and whether any of them could be removed."""

    identities: list[OAuthIdentity]
    has_password: bool
    passkeys: int
    configured: frozenset[str]
    """Keys of the providers configured now: an identity at any other is no way in."""

    def may_remove(self, identity: OAuthIdentity) -> bool:
        """Whether removing `identity` leaves a way to sign in."""
        others = [i for i in self.identities if i.id != identity.id and i.provider in self.configured]
        return self.has_password or self.passkeys > 0 or bool(others)


async def connected_accounts(
    db: AsyncSession, security: Security, user_id: UUID, *, has_password: bool
) -> ConnectedAccounts:
    """The user's identities (oldest first) and passkey count, in one statement."""
    passkeys = (
        select(func.count(WebAuthnCredential.id))
        .where(WebAuthnCredential.user_id == user_id)
        .scalar_subquery()
    )
    # One row even for a user without identities: the count rides on a LEFT JOIN from a constant.
    one = select(literal(1).label("one")).subquery("one")
    query = (
        select(passkeys.label("passkeys"), OAuthIdentity)
        .select_from(one)
        .outerjoin(OAuthIdentity, OAuthIdentity.user_id == user_id)
        .order_by(OAuthIdentity.created_at)
    )
    rows = (await db.execute(query)).all()
    identities = [row[1] for row in rows if row[1] is not None]
    return ConnectedAccounts(identities, has_password, int(rows[0][0]), frozenset(security.oauth))


class Unlinked(StrEnum):
    """What became of a request to remove an identity."""

    REMOVED = "removed"
    LAST_WAY_IN = "last_way_in"
    NOT_FOUND = "not_found"


async def unlink_identity(
    db: AsyncSession, security: Security, user_id: UUID, identity_id: UUID
) -> tuple[Unlinked, OAuthIdentity | None]:
    """Remove one of the user's identities, unless it is their last way to sign in [65]."""
    user = await db.get(security.users, user_id, with_for_update=True)
    if user is None:
        return Unlinked.NOT_FOUND, None
    accounts = await connected_accounts(db, security, user_id, has_password=user.password_hash is not None)
    identity = next((item for item in accounts.identities if item.id == identity_id), None)
    if identity is None:
        return Unlinked.NOT_FOUND, None
    if not accounts.may_remove(identity):
        return Unlinked.LAST_WAY_IN, identity
    await db.delete(identity)
    await db.flush()
    return Unlinked.REMOVED, identity


async def disconnect(db: AsyncSession, request: Request[Any, Any, Any], identity_id: UUID) -> Unlinked:
    """The signed-in user removes one of their identities: audited, and the owner is mailed."""
    security = security_of(request)
    user_id = request.user.id
    result, identity = await unlink_identity(db, security, user_id, identity_id)
    if identity is None:
        return result
    if result is Unlinked.LAST_WAY_IN:
        await audit(
            db,
            request,
            "auth.oauth.unlink_refused",
            outcome="failure",
            user_id=user_id,
            provider=identity.provider,
        )
        return result
    await audit(db, request, "auth.oauth.unlinked", user_id=user_id, provider=identity.provider)
    provider = security.oauth.get(identity.provider)
    user = await db.get_one(security.users, user_id)
    notify_connection_changed(
        db, request, user, provider.display_name if provider else identity.provider, change="unlinked"
    )
    return result


def notify_connection_changed(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    provider: str,
    *,
    change: str,
) -> None:
    """Mail the owner that a provider (its display name) was `linked` or `unlinked` [93]."""
    security = security_of(request)
    context = notice_context(request, security, change=change, provider=provider)
    security.adapter.send_mail(db, to=user.email, template="oauth_changed", context=context)
