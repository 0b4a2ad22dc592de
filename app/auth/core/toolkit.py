"""What every core flow needs besides the database, built once at startup and kept on `app.state`.

The host builds one `Security` from its settings (`app.auth.security.build_security`) and passes
in its `User` model and its `AccountAdapter`. Core code reads it from the app's state with
`security_of(...)`; it never reads the host's settings. Tests swap the clock for a `FrozenClock`
to travel in time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.auth.core.adapter import AccountAdapter
from app.auth.core.clock import Clock, SystemClock
from app.auth.core.crypto import Cipher, derive_key
from app.auth.core.oauth.providers import OAuthProviders, Provider
from app.auth.core.passwords import PasswordHasher
from app.auth.core.policy import DEFAULT_POLICY, FAST_TEST_ARGON2, SecurityPolicy

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.connection import ASGIConnection

    from app.auth.core.jwt_tokens import JwtKeys
    from app.auth.core.models import UserSecurityColumns

__all__ = ("STATE_KEY", "CookieNames", "Security", "effective_policy", "make_security", "security_of")

STATE_KEY = "security"
"""Where the toolkit lives on `app.state`."""


@dataclass(frozen=True)
class CookieNames:
    """Cookie names: `__Host-` prefixed (Secure, Path=/, no Domain) whenever cookies are secure."""

    session: str
    remember: str
    pending: str
    magic: str
    link: str
    pre_session: str
    """The pre-session of a sign-in that still owes its second factor [16]."""
    trusted: str
    """This browser may skip the second factor (for the one user it was trusted by) [27]."""
    passkey: str
    """Binds a passkey sign-in ceremony to the browser that started it (no session exists yet) [54]."""
    oauth: str
    """Binds a trip to an identity provider to the browser that started it (login CSRF) [60]."""

    @classmethod
    def for_deployment(cls, *, secure: bool) -> CookieNames:
        """The names for a deployment that does (or, in local development, does not) serve HTTPS."""
        prefix = "__Host-" if secure else ""
        names = ("session", "remember", "pending", "magic", "link", "mfa", "trusted", "passkey", "oauth")
        return cls(*(f"{prefix}{name}" for name in names))


@dataclass
class Security:
    """The core's configuration and tools: policy, clock, hasher, keys, cookies, host model and adapter."""

    policy: SecurityPolicy
    clock: Clock
    hasher: PasswordHasher
    code_key: bytes
    """Keys the digests of short codes (a bare hash of six digits is trivially reversed)."""
    throttle_key: bytes
    """Keys sign-in throttle rows, so raw email addresses are never stored there."""
    cookie_key: bytes
    """Signs small cookies the server must trust later (the pending-confirmation cookie)."""
    backup_code_key: bytes
    """Keys the digests of backup codes (a leaked table is useless without it) [51]."""
    at_rest: Cipher
    """Seals secrets the core must read back (TOTP secrets), AES-256-GCM bound to their row [50]."""
    cookies: CookieNames
    secure_cookies: bool
    """Whether cookies carry the Secure flag (always in production)."""
    base_url: str
    """The configured origin mailed links are built from, never the request's Host header [37]."""
    site_name: str
    """What authenticator apps and passkey prompts call this service (TOTP issuer, WebAuthn RP name)."""
    webauthn_rp_id: str
    """The WebAuthn relying-party id: the host name of `base_url`, from settings, never the request [55]."""
    webauthn_origin: str
    """The exact origin passkey responses must come from (the scheme and host of `base_url`) [55]."""
    users: type[UserSecurityColumns]
    """The host's `User` model (it mixes in `UserSecurityColumns`)."""
    adapter: AccountAdapter
    """The host's product decisions (see `app.auth.core.adapter`)."""
    trusted_proxies: Sequence[str] = ()
    """Proxies whose X-Forwarded-For is believed when reading the client's address."""
    ratelimit_redis_url: str | None = None
    """Rate-limit counters in this Redis; in PostgreSQL when None."""
    ratelimit_prefix: str = "gatehouse:ratelimit:"
    """Key prefix of the counters in Redis (apps sharing one Redis need distinct prefixes)."""
    current_user_columns: tuple[str, ...] = ()
    """Host columns of `users` every request loads with the session (`request.user.<name>`)."""
    dns_nameservers: tuple[str, ...] = ()
    """Nameservers (IP addresses) domain checks ask; empty: the system's resolver configuration."""
    dns_port: int = 53
    """Port of those nameservers (tests run a DNS server on a free local port)."""
    dns_timeout: float = 5.0
    """Seconds a domain check waits for DNS before it counts as "could not reach DNS"."""
    oauth: OAuthProviders = field(default_factory=OAuthProviders)
    """The configured identity providers, with their cached discovery documents and keys [59]."""
    api_jwt: JwtKeys | None = None
    """The key set of the optional API JWTs (`jwt_tokens`); None: the token endpoint is switched off."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Values core code builds once and keeps (prepared statements, ...)."""

    def link(self, page: str, token: str | None = None) -> str:
        """An absolute link to a named page of the host (`AccountAdapter.PAGES`), for a mail."""
        url = f"{self.base_url}{self.adapter.page_path(page)}"
        return f"{url}?token={token}" if token is not None else url


def effective_policy(
    *, testing: bool, overrides: Mapping[str, Any] | None = None, base: SecurityPolicy | None = None
) -> SecurityPolicy:
    """The policy with a deployment's overrides applied; tests hash cheaply, everything else at full cost.

    Outside tests the production checks run (`for_production`), so a fast hashing profile or an
    out-of-bounds number can never reach a real deployment.
    """
    if base is None:
        # Tests hash cheaply and answer address forms at once; the tests of those two behaviours
        # set the production numbers themselves.
        base = (
            SecurityPolicy(argon2=FAST_TEST_ARGON2, address_form_min_duration=timedelta(milliseconds=1))
            if testing
            else DEFAULT_POLICY
        )
    policy = base.with_overrides(dict(overrides or {}))
    return policy if testing else policy.for_production()


def make_security(
    *,
    secret: bytes,
    base_url: str,
    users: type[UserSecurityColumns],
    adapter: AccountAdapter | None = None,
    policy: SecurityPolicy,
    secure_cookies: bool,
    clock: Clock | None = None,
    trusted_proxies: Sequence[str] = (),
    ratelimit_redis_url: str | None = None,
    ratelimit_prefix: str = "gatehouse:ratelimit:",
    current_user_columns: Sequence[str] = (),
    site_name: str = "Gatehouse",
    oauth_providers: Sequence[Provider] = (),
    dns_nameservers: Sequence[str] = (),
    dns_port: int = 53,
    dns_timeout: float = 5.0,
    api_jwt: JwtKeys | None = None,
) -> Security:
    """The toolkit for one deployment; keys are derived from `secret`, one per purpose."""
    origin = urlsplit(base_url)
    return Security(
        policy=policy,
        clock=clock or SystemClock(),
        hasher=PasswordHasher.for_policy(policy),
        code_key=derive_key(secret, "gatehouse/codes/v1"),
        throttle_key=derive_key(secret, "gatehouse/login-throttle/v1"),
        cookie_key=derive_key(secret, "gatehouse/signed-cookies/v1"),
        backup_code_key=derive_key(secret, "gatehouse/backup-codes/v1"),
        at_rest=Cipher({"v1": derive_key(secret, "gatehouse/at-rest/v1")}, active="v1"),
        cookies=CookieNames.for_deployment(secure=secure_cookies),
        secure_cookies=secure_cookies,
        base_url=base_url.rstrip("/"),
        site_name=site_name,
        webauthn_rp_id=origin.hostname or "localhost",
        webauthn_origin=f"{origin.scheme}://{origin.netloc}",
        users=users,
        adapter=adapter or AccountAdapter(),
        trusted_proxies=tuple(trusted_proxies),
        ratelimit_redis_url=ratelimit_redis_url,
        ratelimit_prefix=ratelimit_prefix,
        current_user_columns=tuple(current_user_columns),
        oauth=OAuthProviders(oauth_providers),
        dns_nameservers=tuple(dns_nameservers),
        dns_port=dns_port,
        dns_timeout=dns_timeout,
        api_jwt=api_jwt,
    )


def security_of(source: ASGIConnection[Any, Any, Any, Any] | Litestar) -> Security:
    """The app's toolkit, from a request (or other connection) or from the app itself."""
    app = getattr(source, "app", source)
    toolkit: Security = app.state[STATE_KEY]
    return toolkit
