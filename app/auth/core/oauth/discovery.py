"""Each provider's endpoints and signing keys: fetched from the provider, cached for a while [61].

An OpenID Connect provider publishes its endpoints in a discovery document and its signing keys
in a JWKS. Both are fetched from the configured URLs only (never from anything in a request or a
token), and the document must name exactly the configured issuer, or it is refused: a document
that claims another issuer is the start of a mix-up [62]. They are kept for
`oauth_metadata_ttl` (1 h): every sign-in does not cost the provider two requests, and a key the
provider stops publishing stops working within the hour.

A token signed with a key the cache does not hold may mean the provider rotated its keys, so the
JWKS is fetched again, but at most once a minute per provider: a stream of tokens with made-up
key ids cannot turn the app into a request amplifier against the provider.

The cache lives in the process (it holds public documents, nothing to share between workers).
GitHub has no discovery: its endpoints are configured.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.auth.core.clock import Clock
from app.auth.core.oauth.providers import Provider

__all__ = ("HTTP_TIMEOUT", "Directory", "Endpoints", "ProviderUnreachableError", "http_client", "tls_context")

HTTP_TIMEOUT = httpx.Timeout(10.0)
"""How long any request to a provider may take: a slow provider costs a sign-in, not a worker."""
KEY_REFRESH_COOLDOWN = timedelta(minutes=1)
"""Least time between two fetches of a provider's keys prompted by an unknown key id."""
MAX_DOCUMENT_BYTES = 512 * 1024


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (with the system's trusted roots) for every request to a provider:
    building one costs tens of milliseconds, which a sign-in should not pay each time."""
    return ssl.create_default_context()


def http_client() -> httpx.AsyncClient:
    """A client for one exchange with a provider: short timeout, no redirects followed."""
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, verify=tls_context())


class ProviderUnreachableError(Exception):
    """The provider did not answer, or answered with something unusable."""


@dataclass(frozen=True)
class Endpoints:
    """Where to send the browser and the app, for one provider."""

    authorization: str
    token: str
    userinfo: str = ""
    jwks: str = ""
    iss_parameter: bool = False
    """The provider adds RFC 9207's `iss` to its answers, so a missing one is suspicious [62]."""


@dataclass
class _Cached:
    value: Any
    fetched_at: datetime


class Directory:
    """Endpoints and keys per provider key, fetched when missing or older than the TTL."""

    def __init__(self) -> None:
        self._endpoints: dict[str, _Cached] = {}
        self._keys: dict[str, _Cached] = {}

    async def endpoints(self, provider: Provider, clock: Clock, ttl: timedelta) -> Endpoints:
        """The provider's endpoints (GitHub's are configured; OIDC ones come from discovery)."""
        if not provider.is_oidc:
            return Endpoints(authorization=provider.authorize_url, token=provider.token_url)
        cached = self._endpoints.get(provider.key)
        if cached is not None and clock.now() - cached.fetched_at < ttl:
            endpoints: Endpoints = cached.value
            return endpoints
        document = await fetch_json(provider.discovery_url)
        endpoints = _endpoints_from(provider, document)
        self._endpoints[provider.key] = _Cached(endpoints, clock.now())
        return endpoints

    async def keys(
        self, provider: Provider, clock: Clock, ttl: timedelta, *, unknown_kid: bool = False
    ) -> KeySet:
        """The provider's signing keys; with `unknown_kid`, fetched again unless that was just done."""
        cached = self._keys.get(provider.key)
        now = clock.now()
        if cached is not None:
            fresh = now - cached.fetched_at < ttl
            cooling = now - cached.fetched_at < KEY_REFRESH_COOLDOWN
            if (fresh and not unknown_kid) or (unknown_kid and cooling):
                keys: KeySet = cached.value
                return keys
        endpoints = await self.endpoints(provider, clock, ttl)
        document = await fetch_json(endpoints.jwks)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnreachableError(f"{provider.key}: unusable JWKS") from exc
        self._keys[provider.key] = _Cached(keys, now)
        return keys


def _endpoints_from(provider: Provider, document: dict[str, Any]) -> Endpoints:
    """Read a discovery document, refusing one that names another issuer (OIDC Discovery §4.3)."""
    if not provider.issuer_matches(document.get("issuer")):
        raise ProviderUnreachableError(f"{provider.key}: the discovery document names another issuer")
    try:
        authorization, token, jwks = (
            document["authorization_endpoint"],
            document["token_endpoint"],
            document["jwks_uri"],
        )
    except KeyError as exc:
        raise ProviderUnreachableError(f"{provider.key}: the discovery document lacks {exc}") from exc
    # Over HTTPS when discovery is (production insists on it), and nothing a header could choke on:
    # the authorization URL goes into the page that sends the browser there.
    scheme = "https://" if provider.discovery_url.startswith("https://") else ("https://", "http://")
    urls = (authorization, token, jwks)
    if not all(_is_url(url, scheme) for url in urls):
        raise ProviderUnreachableError(f"{provider.key}: the discovery document has unusable endpoints")
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise ProviderUnreachableError(f"{provider.key}: the provider does not support PKCE S256 [59]")
    userinfo = document.get("userinfo_endpoint")
    if userinfo is not None and not _is_url(userinfo, scheme):
        userinfo = None
    return Endpoints(
        authorization=authorization,
        token=token,
        jwks=jwks,
        userinfo=userinfo if isinstance(userinfo, str) else "",
        iss_parameter=document.get("authorization_response_iss_parameter_supported") is True,
    )


def _is_url(value: object, scheme: str | tuple[str, ...]) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(scheme)
        and len(value) <= 2048
        and all(32 < ord(char) < 127 for char in value)
    )


async def fetch_json(url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET `url` and return its JSON object; any failure is `ProviderUnreachableError`."""
    try:
        async with http_client() as client:
            response = await client.get(url, headers={"Accept": "application/json", **(headers or {})})
    except httpx.HTTPError as exc:
        raise ProviderUnreachableError(f"{url}: {type(exc).__name__}") from exc
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        raise ProviderUnreachableError(f"{url}: status {response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise ProviderUnreachableError(f"{url}: not JSON") from exc
    if not isinstance(document, dict):
        raise ProviderUnreachableError(f"{url}: not a JSON object")
    return document
