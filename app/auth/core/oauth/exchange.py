"""The code for tokens, then who the provider says this is [59][61][64].

Authlib's async client makes the token request: the code, the flow's PKCE verifier, the exact
redirect URI, and the client's credentials. What comes back becomes an `Assertion`:

- OpenID Connect: the ID token, fully checked (`id_tokens`), with keys fetched again once when it
  names a key we do not hold. Its `email_verified` is believed only when it is literally `true`;
  a token without it asks the userinfo endpoint, whose `sub` must be the token's.
- GitHub (no OpenID Connect): `GET /user` for the numeric id (the subject; logins can be renamed),
  `GET /user/emails` for the address: the primary one, verified only when GitHub says so.

Nothing here writes to the database: the caller holds no connection while the provider answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.auth.core.models import OAuthFlow
from app.auth.core.oauth.client import AsyncOAuth2Client, OAuthError
from app.auth.core.oauth.discovery import (
    HTTP_TIMEOUT,
    ProviderUnreachableError,
    fetch_json,
    http_client,
    tls_context,
)
from app.auth.core.oauth.flows import directory_of, flow_started_at, flow_verifier, redirect_uri
from app.auth.core.oauth.id_tokens import Expected, InvalidIdTokenError, check_id_token, key_id
from app.auth.core.oauth.providers import TENANT_PLACEHOLDER, Provider
from app.auth.core.toolkit import Security

__all__ = ("Assertion", "ProviderRefusedError", "Tokens", "redeem_code", "refresh_tokens")


class ProviderRefusedError(Exception):
    """The provider answered the token request with an error (`error` is its OAuth error code)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint handed out (kept only for providers that `store_tokens`)."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Assertion:
    """Who the provider says signed in, and how."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    tokens: Tokens
    name: str = ""
    amr: tuple[str, ...] = ()
    auth_time: datetime | None = None


def _client(security: Security, provider: Provider) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        token_endpoint_auth_method=provider.token_auth_method,
        redirect_uri=redirect_uri(security, provider),
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
        follow_redirects=False,
        verify=tls_context(),
    )


async def _token_request(security: Security, provider: Provider, url: str, **params: Any) -> dict[str, Any]:
    """POST to the token endpoint; `ProviderRefusedError` for an OAuth error, `ProviderUnreachableError` else."""
    try:
        async with _client(security, provider) as client:
            token = await client.fetch_token(url, **params)
    except OAuthError as exc:
        raise ProviderRefusedError(str(exc.error or "error")[:50]) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnreachableError(f"{provider.key}: token endpoint: {type(exc).__name__}") from exc
    if not isinstance(token.get("access_token"), str):
        raise ProviderRefusedError("no_access_token")
    return dict(token)


def _tokens(token: dict[str, Any], now: datetime) -> Tokens:
    expires_in = token.get("expires_in")
    seconds = int(expires_in) if isinstance(expires_in, int | str) and str(expires_in).isdigit() else None
    refresh = token.get("refresh_token")
    return Tokens(
        access_token=token["access_token"],
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_at=now + timedelta(seconds=seconds) if seconds is not None else None,
    )


async def redeem_code(security: Security, provider: Provider, flow: OAuthFlow, code: str) -> Assertion:
    """Trade the code for tokens with the flow's verifier, and read who signed in.

    Raises `ProviderRefusedError`, `ProviderUnreachableError` or `InvalidIdTokenError`.
    """
    endpoints = await directory_of(security).endpoints(
        provider, security.clock, security.policy.oauth_metadata_ttl
    )
    token = await _token_request(
        security,
        provider,
        endpoints.token,
        grant_type="authorization_code",
        code=code,
        code_verifier=flow_verifier(security, flow),
    )
    tokens = _tokens(token, security.clock.now())
    if provider.is_oidc:
        return await _from_id_token(security, provider, flow, token, tokens)
    return await _from_github(provider, tokens)


async def _from_id_token(
    security: Security, provider: Provider, flow: OAuthFlow, token: dict[str, Any], tokens: Tokens
) -> Assertion:
    raw = token.get("id_token")
    if not isinstance(raw, str):
        raise InvalidIdTokenError("missing")
    policy, directory = security.policy, directory_of(security)
    expected = Expected(
        provider=provider,
        nonce_hash=flow.nonce_hash,
        now=security.clock.now(),
        leeway=policy.oauth_clock_leeway,
        max_age=security.clock.now() - flow_started_at(security, flow),
    )
    keys = await directory.keys(provider, security.clock, policy.oauth_metadata_ttl)
    kid = key_id(raw)
    if kid is not None and not _holds(keys, kid):
        keys = await directory.keys(provider, security.clock, policy.oauth_metadata_ttl, unknown_kid=True)
    claims = check_id_token(raw, keys, expected)
    email, verified = claims.get("email"), claims.get("email_verified")
    if "email_verified" not in claims:
        email, verified = await _userinfo(security, provider, tokens, claims["sub"], email)
    auth_time = claims.get("auth_time")
    amr = claims.get("amr")
    return Assertion(
        # One spelling per provider (Google's alias is recorded as its issuer); a multi-tenant
        # issuer is recorded as the token's own tenant, so each tenant's subjects stay apart.
        issuer=claims["iss"] if TENANT_PLACEHOLDER in provider.issuer else provider.issuer,
        subject=claims["sub"],
        email=email if isinstance(email, str) else "",
        email_verified=verified is True,
        tokens=tokens,
        name=str(claims.get("name") or "")[:100],
        amr=tuple(a for a in amr if isinstance(a, str)) if isinstance(amr, list) else (),
        auth_time=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None,
    )


def _holds(keys: KeySet, kid: str) -> bool:
    try:
        keys.get_by_kid(kid)
    except (JoseError, ValueError, LookupError):
        return False
    return True


async def _userinfo(
    security: Security, provider: Provider, tokens: Tokens, subject: str, email: object
) -> tuple[object, object]:
    """Address and its verification from the userinfo endpoint (its `sub` must match the token's)."""
    endpoints = await directory_of(security).endpoints(
        provider, security.clock, security.policy.oauth_metadata_ttl
    )
    if not endpoints.userinfo:
        return email, False
    info = await fetch_json(endpoints.userinfo, headers={"Authorization": f"Bearer {tokens.access_token}"})
    if info.get("sub") != subject:
        return email, False
    return info.get("email", email), info.get("email_verified")


async def _from_github(provider: Provider, tokens: Tokens) -> Assertion:
    headers = {
        "Authorization": f"Bearer {tokens.access_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    api = provider.api_url.rstrip("/")
    user = await fetch_json(f"{api}/user", headers=headers)
    subject = user.get("id")
    if not isinstance(subject, int) or isinstance(subject, bool):
        raise ProviderUnreachableError(f"{provider.key}: /user has no numeric id")
    email, verified = await _github_primary_email(api, headers)
    return Assertion(
        issuer=provider.issuer,
        subject=str(subject),
        email=email,
        email_verified=verified,
        tokens=tokens,
        name=str(user.get("name") or user.get("login") or "")[:100],
    )


async def _github_primary_email(api: str, headers: dict[str, str]) -> tuple[str, bool]:
    """GitHub's primary address, and whether GitHub verified it (any other address does not count)."""
    try:
        async with http_client() as client:
            response = await client.get(f"{api}/user/emails", headers=headers)
        entries = response.json() if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnreachableError(f"{api}/user/emails: {type(exc).__name__}") from exc
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("primary") is True and isinstance(entry.get("email"), str):
            return entry["email"], entry.get("verified") is True
    return "", False


async def refresh_tokens(security: Security, provider: Provider, refresh_token: str) -> Tokens:
    """New tokens for a stored refresh token (`ProviderRefusedError` when the provider says no)."""
    endpoints = await directory_of(security).endpoints(
        provider, security.clock, security.policy.oauth_metadata_ttl
    )
    token = await _token_request(
        security, provider, endpoints.token, grant_type="refresh_token", refresh_token=refresh_token
    )
    tokens = _tokens(token, security.clock.now())
    if tokens.refresh_token is None:  # a provider that does not rotate keeps the old one working
        tokens = Tokens(tokens.access_token, refresh_token, tokens.expires_at)
    return tokens
