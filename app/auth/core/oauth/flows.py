"""One trip to an identity provider and back: started once, finished once, by one browser [59]-[63].

Starting stores an `oauth_flows` row and sends the browser to the provider with:

- `state`: 256 random bits; only its SHA-256 is stored. The answer must bring it back;
- PKCE: a fresh verifier (sealed in the row) and its S256 challenge, never `plain` [59]: a code
  stolen on its way back is useless without the verifier, which never leaves the server;
- `nonce` (OpenID Connect): 256 random bits, checked against the ID token; only its digest is kept;
- the redirect URI, built from `BASE_URL` and the provider's key, never from the request's Host [63].

The row also holds the SHA-256 of a random value in this browser's `oauth` cookie (SameSite=Lax,
so the provider's top-level redirect back carries it). Finishing takes the row with one
`DELETE … WHERE state_hash = … AND browser_hash = … RETURNING`, committed at once: a state works
once [60]; a callback URL opened in another browser (the attacker's own code planted in a victim's
browser, "login CSRF") finds no row; an expired or foreign one is refused, all before any token
request is made. The issuer the flow went to is kept and compared with the answer's (mix-up) [62].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from litestar import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.cookies import set_cookie
from app.auth.core.models import OAuthFlow
from app.auth.core.oauth.client import OAuth2Client
from app.auth.core.oauth.discovery import Directory, Endpoints
from app.auth.core.oauth.providers import Provider
from app.auth.core.tokens import new_token, token_digest
from app.auth.core.toolkit import Security, security_of

__all__ = ("Departure", "FlowError", "Purpose", "bind_to_browser", "redirect_uri", "start_flow", "take_flow")

CALLBACK_PATH = "/auth/oauth/{key}/callback"
"""Where providers send the browser back; the host's route must have this path."""
_MAX_STATE = 128
_VERIFIER_BYTES = 48  # 64 characters: RFC 7636 wants 43 to 128


class Purpose(StrEnum):
    """Why the browser went to the provider."""

    SIGN_IN = "sign_in"
    """Sign in, or sign up when the identity is new."""
    LINK = "link"
    """Connect the identity to the signed-in user (started under sudo)."""
    SUDO = "sudo"
    """Re-authenticate the signed-in user (an account whose only way in is the provider)."""


@dataclass(frozen=True)
class Departure:
    """A started flow: the provider's authorization URL and this browser's binding value."""

    url: str
    browser: str = field(repr=False)


class FlowError(Exception):
    """The answer does not belong to a live flow of this browser: `unknown_state`, `other_browser`,
    `expired` or `wrong_provider`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def redirect_uri(security: Security, provider: Provider) -> str:
    """The provider's exact, registered redirect URI: from `BASE_URL`, never from the request [63]."""
    return security.base_url + CALLBACK_PATH.format(key=provider.key)


def _verifier_context(state_hash: bytes) -> bytes:
    return b"oauth-flow:" + state_hash


def directory_of(security: Security) -> Directory:
    """The toolkit's cache of provider endpoints and keys."""
    return security.oauth.directory


async def start_flow(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    provider: Provider,
    *,
    purpose: Purpose,
    user_id: UUID | None = None,
    next_url: str = "",
) -> Departure:
    """Store a flow; where to send the browser, and the value of its binding cookie.

    The host sends the browser on with a page that navigates there (a form's 303 to another
    origin would need that origin in the CSP's `form-action`) and sets the cookie with
    `bind_to_browser`. `next_url` must already be a safe same-site path. Raises
    `ProviderUnreachableError` when the provider's discovery document cannot be had.
    """
    security = security_of(request)
    policy = security.policy
    endpoints = await directory_of(security).endpoints(provider, security.clock, policy.oauth_metadata_ttl)
    state, verifier, nonce = new_token(), new_token(_VERIFIER_BYTES), new_token()
    browser = _browser_value(request, security)
    state_hash = token_digest(state)
    expires_at = security.clock.now() + policy.oauth_flow_ttl
    db.add(
        OAuthFlow(
            state_hash=state_hash,
            browser_hash=token_digest(browser),
            provider=provider.key,
            issuer=provider.issuer,
            purpose=purpose.value,
            user_id=user_id,
            verifier_sealed=security.at_rest.seal(verifier.encode(), _verifier_context(state_hash)),
            nonce_hash=token_digest(nonce),
            next_url=next_url[:2048],
            expires_at=expires_at,
        )
    )
    await db.flush()
    url = authorization_url(
        security, provider, endpoints, state=state, verifier=verifier, nonce=nonce, purpose=purpose
    )
    return Departure(url=url, browser=browser)


def bind_to_browser(response: Response[Any], departure: Departure, security: Security) -> None:
    """Set the cookie that ties the flow to this browser (as long as the flow lives) [60]."""
    set_cookie(
        response,
        security.cookies.oauth,
        departure.browser,
        secure=security.secure_cookies,
        max_age=int(security.policy.oauth_flow_ttl.total_seconds()),
    )


def authorization_url(
    security: Security,
    provider: Provider,
    endpoints: Endpoints,
    *,
    state: str,
    verifier: str,
    nonce: str,
    purpose: Purpose,
) -> str:
    """The provider's authorization URL: code flow, PKCE S256, state, nonce, exact redirect URI."""
    extra: dict[str, Any] = {}
    if provider.is_oidc:
        extra["nonce"] = nonce
        if purpose is Purpose.SUDO:
            # Make the person sign in at the provider now, and have the token say when [67].
            extra.update(prompt="login", max_age=0)
    # Authlib's protocol client without an HTTP session: building a URL needs no connection.
    client = OAuth2Client(
        None,
        client_id=provider.client_id,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri(security, provider),
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        endpoints.authorization, state=state, code_verifier=verifier, **extra
    )
    return str(url)


def _browser_value(request: Request[Any, Any, Any], security: Security) -> str:
    """This browser's binding value: the one its cookie holds (so two tabs can each sign in), or new."""
    current = request.cookies.get(security.cookies.oauth, "")
    return current if 40 <= len(current) <= 64 and current.isascii() else new_token()


async def take_flow(
    db: AsyncSession, request: Request[Any, Any, Any], provider: Provider, state: str
) -> OAuthFlow:
    """Spend this browser's flow for `state`, committed at once; `FlowError` if it has none."""
    security = security_of(request)
    if not state or len(state) > _MAX_STATE:
        raise FlowError("unknown_state")
    state_hash = token_digest(state)
    browser = request.cookies.get(security.cookies.oauth, "")
    flow = await db.scalar(
        delete(OAuthFlow)
        .where(OAuthFlow.state_hash == state_hash, OAuthFlow.browser_hash == token_digest(browser))
        .returning(OAuthFlow)
        .execution_options(synchronize_session=False)
    )
    if flow is None:
        elsewhere = await db.scalar(select(OAuthFlow.id).where(OAuthFlow.state_hash == state_hash))
        raise FlowError("other_browser" if elsewhere is not None else "unknown_state")
    # Spent for good, even if what follows fails: the same answer must not be tried twice.
    await db.commit()
    if security.clock.now() >= flow.expires_at:
        raise FlowError("expired")
    if flow.provider != provider.key or flow.issuer != provider.issuer:
        raise FlowError("wrong_provider")
    return flow


def flow_verifier(security: Security, flow: OAuthFlow) -> str:
    """The flow's PKCE verifier (it opens only inside its own row)."""
    return security.at_rest.open(flow.verifier_sealed, _verifier_context(flow.state_hash)).decode()


def flow_started_at(security: Security, flow: OAuthFlow) -> datetime:
    """When the flow started (the earliest a fresh sign-in at the provider can have happened)."""
    return flow.expires_at - security.policy.oauth_flow_ttl
