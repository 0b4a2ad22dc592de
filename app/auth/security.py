"""The security toolkit the host app hands to its auth code: policy, clock, hasher, keys, cookie names.

Built once at startup (`build_security`) and kept on `app.state.security`. Tests swap the clock for
a `FrozenClock` to travel in time. Outside tests the production argon2 profile is enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Litestar, Request

from app.auth.core.clock import Clock, SystemClock
from app.auth.core.crypto import derive_key
from app.auth.core.passwords import PasswordHasher
from app.auth.core.policy import DEFAULT_POLICY, FAST_TEST_ARGON2, SecurityPolicy
from app.settings import Settings


@dataclass(frozen=True)
class CookieNames:
    """Cookie names: `__Host-` prefixed (Secure, Path=/, no Domain) whenever cookies are secure."""

    session: str
    remember: str
    pending: str
    magic: str

    @classmethod
    def for_settings(cls, settings: Settings) -> CookieNames:
        """Names for this deployment."""
        prefix = "__Host-" if settings.cookies_secure else ""
        return cls(
            session=f"{prefix}session",
            remember=f"{prefix}remember",
            pending=f"{prefix}pending",
            magic=f"{prefix}magic",
        )


@dataclass
class Security:
    """Everything auth code needs besides the database."""

    settings: Settings
    policy: SecurityPolicy
    clock: Clock
    hasher: PasswordHasher
    code_key: bytes
    """Keys the digests of short codes (a bare hash of six digits is trivially reversed)."""
    throttle_key: bytes
    """Keys sign-in throttle rows, so raw email addresses are never stored there."""
    cookie_key: bytes
    """Signs small cookies the server must trust later (the pending-confirmation cookie)."""
    cookies: CookieNames

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        return self.settings.cookies_secure


def effective_policy(settings: Settings) -> SecurityPolicy:
    """The policy with SECURITY_POLICY overrides applied; tests hash cheaply, everything else at full cost."""
    base = (
        # Tests hash cheaply and answer address forms at once; the tests of those two behaviours
        # set the production numbers themselves.
        SecurityPolicy(argon2=FAST_TEST_ARGON2, address_form_min_duration=timedelta(milliseconds=1))
        if settings.app_env == "test"
        else DEFAULT_POLICY
    )
    policy = base.with_overrides(settings.security_policy)
    return policy if settings.app_env == "test" else policy.for_production()


def build_security(settings: Settings, clock: Clock | None = None) -> Security:
    """The toolkit for `settings`."""
    policy = effective_policy(settings)
    return Security(
        settings=settings,
        policy=policy,
        clock=clock or SystemClock(),
        hasher=PasswordHasher(policy.argon2, max_concurrency=policy.password_hashing_concurrency),
        code_key=derive_key(settings.secret, "gatehouse/codes/v1"),
        throttle_key=derive_key(settings.secret, "gatehouse/login-throttle/v1"),
        cookie_key=derive_key(settings.secret, "gatehouse/signed-cookies/v1"),
        cookies=CookieNames.for_settings(settings),
    )


def security_of(request: Request[Any, Any, Any]) -> Security:
    """The app's security toolkit."""
    toolkit: Security = request.app.state.security
    return toolkit


def security_for_app(app: Litestar) -> Security:
    """The app's security toolkit (outside a request)."""
    toolkit: Security = app.state.security
    return toolkit
