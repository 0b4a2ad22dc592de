"""Checking an OpenID Connect ID token, every claim that makes it mean "this person, for us, now" [61].

An ID token is accepted only if all of these hold; each failure has its own reason, for the audit
log (the person sees one page whatever the reason):

- `algorithm`: the header's `alg` is an asymmetric algorithm from the allowlist: never `none`,
  never an HMAC (a provider's tokens are verified with its published keys, not a shared secret);
- `unknown_key` / `signature`: the signature verifies with a key from the configured issuer's
  JWKS (the caller fetches the keys again once on an unknown `kid`, for key rotation);
- `issuer`: `iss` is exactly the configured issuer;
- `audience`: `aud` is or contains our client id, and `azp`, when present (it must be when there
  are several audiences), is our client id;
- `expired` / `issued_at`: `exp` is in the future and `iat` not, within `oauth_clock_leeway`
  (2 min), and `iat` is no older than the flow: a token minted for an earlier sign-in is stale;
- `nonce`: the nonce this flow sent (only its digest is stored), compared in constant time, so a
  token from another flow or another browser is useless here;
- `subject`: `sub` is a non-empty string: with the issuer it is the identity's key [64].
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from app.auth.core.oauth.providers import Provider
from app.auth.core.tokens import digests_match, token_digest

__all__ = ("ALGORITHMS", "Expected", "InvalidIdTokenError", "check_id_token")

ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
"""Signature algorithms an ID token may use: asymmetric only."""
MAX_TOKEN_BYTES = 16 * 1024


class InvalidIdTokenError(Exception):
    """The ID token failed a check; `reason` names which (see the module docstring)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Expected:
    """What this flow expects of its ID token."""

    provider: Provider
    nonce_hash: bytes
    now: datetime
    leeway: timedelta
    max_age: timedelta
    """How old `iat` may be: the flow's lifetime."""


def key_id(raw: str) -> str | None:
    """The `kid` of the token's signing key, read from the header without verifying anything."""
    return _header(raw).get("kid")


def _header(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_TOKEN_BYTES:
        raise InvalidIdTokenError("malformed")
    try:
        header = extract_compact(raw.encode()).protected
    except (JoseError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidIdTokenError("malformed") from exc
    if not isinstance(header, Mapping):
        raise InvalidIdTokenError("malformed")
    return dict(header)


def check_id_token(raw: str, keys: KeySet, expected: Expected) -> dict[str, Any]:
    """The token's claims if every check passes; `InvalidIdTokenError` otherwise."""
    if _header(raw).get("alg") not in ALGORITHMS:
        raise InvalidIdTokenError("algorithm")
    try:
        token = jwt.decode(raw, keys, algorithms=ALGORITHMS)
    except InvalidKeyIdError as exc:
        raise InvalidIdTokenError("unknown_key") from exc
    except BadSignatureError as exc:
        raise InvalidIdTokenError("signature") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidIdTokenError("malformed") from exc
    claims = dict(token.claims)
    _check_claims(claims, expected)
    return claims


def _check_claims(claims: dict[str, Any], expected: Expected) -> None:
    provider = expected.provider
    if not provider.issuer_matches(claims.get("iss"), claims.get("tid")):
        raise InvalidIdTokenError("issuer")
    if not _for_us(claims, provider.client_id):
        raise InvalidIdTokenError("audience")
    now, leeway = expected.now.timestamp(), expected.leeway.total_seconds()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp) or now >= exp + leeway:
        raise InvalidIdTokenError("expired")
    oldest = now - expected.max_age.total_seconds() - leeway
    if not _is_number(iat) or iat > now + leeway or iat < oldest:
        raise InvalidIdTokenError("issued_at")
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_number(nbf) or nbf > now + leeway):
        raise InvalidIdTokenError("issued_at")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not digests_match(token_digest(nonce), expected.nonce_hash):
        raise InvalidIdTokenError("nonce")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise InvalidIdTokenError("subject")


def _for_us(claims: Mapping[str, Any], client_id: str) -> bool:
    aud, azp = claims.get("aud"), claims.get("azp")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        return False
    if azp is None:
        return len(audiences) == 1
    return bool(azp == client_id)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
