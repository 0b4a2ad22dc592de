"""Optional JWTs for the API: a personal token or a password exchanged for short access tokens [79].

Off unless the host switches it on (Gatehouse: `API_JWT_ENABLED`). An exchange starts a *grant*
(`ApiGrant`, a token family) and answers with an access token (a JWT, `api_jwt_access_ttl`, 15
minutes) and an opaque refresh token (`api_jwt_refresh_ttl`, 30 days). Each refresh spends its
token and hands out the next one; presenting a spent one again means it was copied, so the
whole grant is revoked and every token it gave stops working.

- **One algorithm list, asymmetric only.** Tokens are signed with the active key of a fixed key
  set from local configuration: Ed25519 (EdDSA, named `Ed25519` as RFC 9864 asks) or ES256.
  `none`, HMAC and anything else are refused, as is a key type that does not match the named
  algorithm. A header may hold `alg`, `kid` and `typ` only: `jku`, `x5u`, `jwk`, `x5c` (key
  material named by the token itself) make it invalid, and `kid` must be one of our key ids.
- **Every claim checked.** `typ` is `at+jwt` (RFC 9068), and `iss`, `aud`, `sub`, `sid`, `iat`,
  `nbf` and `exp` must all be there and right, on the toolkit's clock.
- **Revocable, and never more than the owner.** The token's `sid` names its grant, read on every
  request with the owner's state in one statement: a revoked grant, a disabled or locked
  account, a password changed after `iat`, or a revoked or expired personal token (for a grant
  made from one) is 401. A grant made from a personal token carries that token's scopes; one made
  with a password carries every personal scope. Each request still caps an organization's
  permissions at the user's current role, like a personal token (`api_auth.api_org_context`).
- **A password exchange is a sign-in.** It goes through the sign-in stages (`signin.identify`,
  the per-address throttle, one hash off the event loop and out of the pool) and then the second
  factor: an authenticator or backup code in `code`. An account whose second factor is a passkey
  only cannot use this (a ceremony needs a browser); its owner exchanges a personal token.

Keys rotate by configuration: add the new key, make it active, keep the old one listed (it
still verifies) until the last access token it signed has expired, then drop it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import bindparam, select, update

from app.auth.core.api_tokens import TOKEN_SCOPES, is_token_shaped
from app.auth.core.audit_log import audit
from app.auth.core.crypto import derive_key
from app.auth.core.models import ApiGrant, ApiRefreshToken, ApiToken
from app.auth.core.second_factor import SecondFactorProblem, check_second_factor, factors_of
from app.auth.core.session_store import revoke_user_grants
from app.auth.core.signin import (
    InvalidCredentialsError,
    ThrottledError,
    check_password,
    check_throttle,
    identify,
)
from app.auth.core.tokens import token_digest
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = (
    "ACCESS_TYPE",
    "ALGORITHMS",
    "REFRESH_PREFIX",
    "GrantCaller",
    "GrantRefusedError",
    "IssuedGrant",
    "JwtKeys",
    "SigningKey",
    "authenticate_access",
    "exchange_api_token",
    "exchange_password",
    "looks_like_jwt",
    "refresh_grant",
    "revoke_grant",
    "revoke_user_grants",
)

ALGORITHMS = ("Ed25519", "ES256")
"""The only algorithms a token may name (asymmetric only: no `none`, no HMAC to confuse keys with)."""
ACCESS_TYPE = "at+jwt"
"""The `typ` header of our access tokens (RFC 9068), so no other JWT of ours passes for one."""
REFRESH_PREFIX = "gthr_"
"""Refresh tokens read `gthr_<256 random bits>`; the prefix lets secret scanners spot them."""

_ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REFRESH_SHAPE = re.compile(rf"^{REFRESH_PREFIX}[A-Za-z0-9_-]{{43}}$")
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_MAX_JWT_LENGTH = 4096


# --- keys


@dataclass(frozen=True)
class SigningKey:
    """One key of the set: its id, its algorithm and the private key (it signs and verifies)."""

    kid: str
    alg: str
    key: OKPKey | ECKey


def _checked_key(kid: str, alg: str, key: OKPKey | ECKey) -> SigningKey:
    if not _KID.fullmatch(kid):
        raise ValueError(f"API JWT key id {kid!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if alg not in ALGORITHMS:
        raise ValueError(f"API JWT key {kid!r}: algorithm {alg!r} is not one of {ALGORITHMS}")
    curve = key.as_dict(private=False).get("crv")
    if (alg, curve) not in {("Ed25519", "Ed25519"), ("ES256", "P-256")} or not key.is_private:
        raise ValueError(
            f"API JWT key {kid!r}: {alg} needs a private {'Ed25519' if alg == 'Ed25519' else 'P-256'} key"
        )
    return SigningKey(kid, alg, key)


class JwtKeys:
    """The fixed key set: the active key signs, every listed key verifies (rotation)."""

    def __init__(self, keys: Sequence[SigningKey], active: str) -> None:
        self.keys = {k.kid: k for k in keys}
        if len(self.keys) != len(keys):
            raise ValueError("API JWT key ids must be unique")
        if active not in self.keys:
            raise ValueError(f"the active API JWT key {active!r} is not in the key set")
        self.active = self.keys[active]

    @classmethod
    def from_pem(cls, entries: Sequence[tuple[str, str, bytes]], active: str | None = None) -> JwtKeys:
        """Keys from configuration: (kid, alg, PKCS#8 PEM private key); `active` defaults to the first."""
        if not entries:
            raise ValueError("no API JWT keys given")
        keys: list[SigningKey] = []
        for kid, alg, pem in entries:
            if alg not in ALGORITHMS:
                raise ValueError(f"API JWT key {kid!r}: algorithm {alg!r} is not one of {ALGORITHMS}")
            try:
                key: OKPKey | ECKey = OKPKey.import_key(pem) if alg == "Ed25519" else ECKey.import_key(pem)
            except (JoseError, ValueError, TypeError) as exc:
                raise ValueError(f"API JWT key {kid!r}: not a private key for {alg}") from exc
            keys.append(_checked_key(kid, alg, key))
        return cls(keys, active or keys[0].kid)

    @classmethod
    def derived(cls, secret: bytes) -> JwtKeys:
        """One Ed25519 key derived from the application secret (development and tests only).

        Derived, not random, so every process and restart of a deployment signs alike.
        """
        private = Ed25519PrivateKey.from_private_bytes(derive_key(secret, "gatehouse/api-jwt/v1"))
        key = OKPKey.import_key(private)
        kid = "derived-" + sha256(str(key.as_dict(private=False)["x"]).encode()).hexdigest()[:12]
        return cls([_checked_key(kid, "Ed25519", key)], kid)

    def sign(self, claims: dict[str, Any]) -> str:
        """An access token with `claims`, signed by the active key."""
        active = self.active
        header = {"alg": active.alg, "kid": active.kid, "typ": ACCESS_TYPE}
        return jwt.encode(header, claims, active.key, algorithms=[active.alg])

    def verify(self, value: str, *, now: datetime, issuer: str, audience: str) -> dict[str, Any] | None:
        """The claims of a valid access token of ours, or None (forged, foreign, expired, too early...)."""
        if len(value) > _MAX_JWT_LENGTH or not _JWT_SHAPE.fullmatch(value):
            return None
        try:
            header = jws.extract_compact(value.encode()).headers()
        except (JoseError, ValueError, TypeError):
            return None
        if set(header) - _ALLOWED_HEADER or header.get("typ") != ACCESS_TYPE:
            return None  # jku, x5u, jwk, x5c, crit...: we never take keys from the token
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != key.alg:
            return None
        try:
            token = jwt.decode(value, key.key, algorithms=[key.alg])
            _claims_registry(now, issuer, audience).validate(token.claims)
        except (JoseError, ValueError, TypeError):
            return None
        return dict(token.claims)


def _claims_registry(now: datetime, issuer: str, audience: str) -> JWTClaimsRegistry:
    essential: Any = {"essential": True}
    return JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=0,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub=essential,
        sid=essential,
        jti=essential,
        iat=essential,
        nbf=essential,
        exp=essential,
    )


def _keys(security: Security) -> JwtKeys:
    keys = security.api_jwt
    if keys is None:
        raise RuntimeError("API JWTs are switched off")
    return keys


def issuer_of(security: Security) -> str:
    """The `iss` of our tokens: the deployment's configured origin."""
    return security.base_url


def audience_of(security: Security) -> str:
    """The `aud` of our access tokens: the API of this deployment."""
    return f"{security.base_url}/api"


def looks_like_jwt(value: str) -> bool:
    """Whether a bearer value has the shape of a compact JWS (checked before any parsing)."""
    return len(value) <= _MAX_JWT_LENGTH and _JWT_SHAPE.fullmatch(value) is not None


# --- exchanges


class GrantRefusedError(Exception):
    """An exchange, refresh or revoke was refused: the HTTP status and what to tell the caller."""

    def __init__(self, status: int, detail: str, *, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


_WRONG = "Those credentials are not valid."


@dataclass(frozen=True)
class IssuedGrant:
    """What an exchange or a refresh answers: a new access token and the next refresh token."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    scopes: list[str]


async def exchange_password(
    db: AsyncSession, request: Request[Any, Any, Any], email: str, password: str, code: str
) -> IssuedGrant:
    """A grant for an address and password (and second-factor code), checked like a sign-in [9]-[12]."""
    who = await identify(db, request, email)
    try:
        await check_throttle(db, request, who)
    except ThrottledError as exc:
        raise GrantRefusedError(
            429, "Too many failed attempts. Wait and try again.", retry_after=exc.retry_after
        ) from exc
    try:
        user = await check_password(db, request, who, password, failure_action="api.jwt.failed")
    except InvalidCredentialsError:
        raise GrantRefusedError(401, _WRONG) from None
    factors = await factors_of(db, user.id)
    if factors.required:
        if not factors.totp and factors.backup_codes == 0:
            raise GrantRefusedError(
                403, "This account's second factor is a passkey: exchange a personal access token instead."
            )
        if not code.strip():
            raise GrantRefusedError(401, "This account uses two-step verification: send its code as `code`.")
        outcome = await check_second_factor(db, request, user, code, context="api_jwt")
        if isinstance(outcome, SecondFactorProblem):
            if outcome.kind == "locked":
                raise GrantRefusedError(
                    429, "Too many wrong codes. Wait and try again.", retry_after=outcome.retry_after
                )
            raise GrantRefusedError(401, _WRONG)
    return await _start_grant(db, request, user.id, "password", sorted(TOKEN_SCOPES), None)


async def exchange_api_token(db: AsyncSession, request: Request[Any, Any, Any], value: str) -> IssuedGrant:
    """A grant for a live personal token of an active account, with that token's scopes."""
    if not is_token_shaped(value):
        raise GrantRefusedError(401, _WRONG)
    users = security_of(request).users
    row = (
        await db.execute(
            select(
                ApiToken.id,
                ApiToken.user_id,
                ApiToken.scopes,
                ApiToken.expires_at,
                users.is_active,
                users.sign_in_locked_at,
            )
            .outerjoin(users, users.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_digest(value), ApiToken.revoked_at.is_(None))
        )
    ).first()
    now = security_of(request).clock.now()
    if row is None or now >= row.expires_at:
        raise GrantRefusedError(401, _WRONG)
    if row.user_id is None:
        raise GrantRefusedError(
            400, "Only personal tokens can be exchanged; organization tokens are used as they are."
        )
    if not row.is_active or row.sign_in_locked_at is not None:
        raise GrantRefusedError(401, _WRONG)
    return await _start_grant(db, request, row.user_id, "api_token", sorted(row.scopes), row.id)


async def _start_grant(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user_id: UUID,
    method: str,
    scopes: list[str],
    api_token_id: UUID | None,
) -> IssuedGrant:
    grant = ApiGrant(user_id=user_id, api_token_id=api_token_id, method=method, scopes=scopes)
    db.add(grant)
    await db.flush()
    issued = await _issue(db, request, grant, parent_id=None)
    await audit(
        db,
        request,
        "api.jwt.issued",
        user_id=user_id,
        target_type="api_grant",
        target_id=str(grant.id),
        method=method,
    )
    return issued


async def _issue(
    db: AsyncSession, request: Request[Any, Any, Any], grant: Any, *, parent_id: UUID | None
) -> IssuedGrant:
    """A fresh access token and refresh token for `grant` (a row with id, user_id and scopes)."""
    security = security_of(request)
    policy = security.policy
    now = security.clock.now()
    refresh_value = REFRESH_PREFIX + secrets.token_urlsafe(32)
    db.add(
        ApiRefreshToken(
            grant_id=grant.id,
            parent_id=parent_id,
            token_hash=token_digest(refresh_value),
            expires_at=now + policy.api_jwt_refresh_ttl,
        )
    )
    await db.flush()
    issued_at = int(now.timestamp())
    lifetime = int(policy.api_jwt_access_ttl.total_seconds())
    claims = {
        "iss": issuer_of(security),
        "aud": audience_of(security),
        "sub": str(grant.user_id),
        "sid": str(grant.id),
        "jti": secrets.token_urlsafe(12),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "scope": " ".join(grant.scopes),
    }
    return IssuedGrant(
        access_token=_keys(security).sign(claims),
        expires_in=lifetime,
        refresh_token=refresh_value,
        refresh_expires_in=int(policy.api_jwt_refresh_ttl.total_seconds()),
        scopes=list(grant.scopes),
    )


async def refresh_grant(db: AsyncSession, request: Request[Any, Any, Any], value: str) -> IssuedGrant:
    """Spend a refresh token for a new pair; a spent one presented again revokes its whole grant."""
    security = security_of(request)
    if not _REFRESH_SHAPE.fullmatch(value):
        raise GrantRefusedError(401, "That refresh token is not valid.")
    token = await db.scalar(
        select(ApiRefreshToken).where(ApiRefreshToken.token_hash == token_digest(value)).with_for_update()
    )
    if token is None:
        raise GrantRefusedError(401, "That refresh token is not valid.")
    now = security.clock.now()
    if token.used_at is not None or token.revoked_at is not None:
        if await _revoke(db, token.grant_id, now):
            grant_user = await db.scalar(select(ApiGrant.user_id).where(ApiGrant.id == token.grant_id))
            await audit(
                db,
                request,
                "api.jwt.refresh_reused",
                outcome="failure",
                user_id=grant_user,
                target_type="api_grant",
                target_id=str(token.grant_id),
            )
        await db.commit()  # the revocation stands although this request fails
        raise GrantRefusedError(
            401, "That refresh token was used already: all tokens of its grant are revoked."
        )
    row = (await db.execute(_grant_statement(security), {"grant_id": token.grant_id})).first()
    if row is None or now >= token.expires_at or not _grant_is_live(row, now, issued_at=None):
        raise GrantRefusedError(401, "That refresh token is not valid.")
    token.used_at = now
    await db.flush()
    return await _issue(db, request, row, parent_id=token.id)


async def revoke_grant(db: AsyncSession, request: Request[Any, Any, Any], value: str) -> None:
    """Revoke the grant of a refresh token (its access tokens stop at once); unknown tokens: nothing."""
    if not _REFRESH_SHAPE.fullmatch(value):
        return
    grant_id = await db.scalar(
        select(ApiRefreshToken.grant_id).where(ApiRefreshToken.token_hash == token_digest(value))
    )
    if grant_id is not None and await _revoke(db, grant_id, security_of(request).clock.now()):
        user_id = await db.scalar(select(ApiGrant.user_id).where(ApiGrant.id == grant_id))
        await audit(
            db, request, "api.jwt.revoked", user_id=user_id, target_type="api_grant", target_id=str(grant_id)
        )


async def _revoke(db: AsyncSession, grant_id: UUID, now: datetime) -> bool:
    """Revoke a grant and its refresh tokens; False when it was revoked already."""
    revoked = await db.scalar(
        update(ApiGrant)
        .where(ApiGrant.id == grant_id, ApiGrant.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiGrant.id)
    )
    await db.execute(
        update(ApiRefreshToken)
        .where(ApiRefreshToken.grant_id == grant_id, ApiRefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return revoked is not None


# --- each request


_GRANT_KEY = "jwt_tokens.grant"


def _grant_statement(security: Security) -> Any:
    """One statement: a grant with its owner's state and, for one made from a token, that token's."""
    cached = security.extra.get(_GRANT_KEY)
    if cached is None:
        users = security.users
        cached = (
            select(
                ApiGrant.id,
                ApiGrant.user_id,
                ApiGrant.scopes,
                ApiGrant.revoked_at,
                ApiGrant.api_token_id,
                users.email,
                users.is_active,
                users.sign_in_locked_at,
                users.password_hash,
                users.password_changed_at,
                ApiToken.revoked_at.label("token_revoked_at"),
                ApiToken.expires_at.label("token_expires_at"),
            )
            .join(users, users.id == ApiGrant.user_id)
            .outerjoin(ApiToken, ApiToken.id == ApiGrant.api_token_id)
            .where(ApiGrant.id == bindparam("grant_id"))
        )
        security.extra[_GRANT_KEY] = cached
    return cached


def _grant_is_live(row: Any, now: datetime, *, issued_at: int | None) -> bool:
    if row.revoked_at is not None or not row.is_active or row.sign_in_locked_at is not None:
        return False
    if row.api_token_id is not None and (row.token_revoked_at is not None or now >= row.token_expires_at):
        return False  # a grant made from a personal token dies with it
    changed = row.password_changed_at
    return not (issued_at is not None and changed is not None and issued_at < int(changed.timestamp()))


@dataclass(frozen=True)
class GrantCaller:
    """Who an access token acts for: its grant, the user and the grant's scopes."""

    grant_id: UUID
    user_id: UUID
    scopes: frozenset[str]
    email: str
    has_password: bool


async def authenticate_access(conn: AsyncConnection, value: str, security: Security) -> GrantCaller | None:
    """The caller for a presented access token, or None when it is not a live one of ours."""
    keys = security.api_jwt
    if keys is None or not looks_like_jwt(value):
        return None
    now = security.clock.now()
    claims = keys.verify(value, now=now, issuer=issuer_of(security), audience=audience_of(security))
    if claims is None:
        return None
    try:
        grant_id, user_id, issued_at = UUID(str(claims["sid"])), UUID(str(claims["sub"])), int(claims["iat"])
    except (KeyError, ValueError, TypeError):
        return None
    row = (await conn.execute(_grant_statement(security), {"grant_id": grant_id})).first()
    if row is None or row.user_id != user_id or not _grant_is_live(row, now, issued_at=issued_at):
        return None
    return GrantCaller(
        grant_id=row.id,
        user_id=row.user_id,
        scopes=frozenset(row.scopes),
        email=row.email,
        has_password=row.password_hash is not None,
    )
