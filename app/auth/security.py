"""Builds the core's toolkit (`app.auth.core.toolkit.Security`) from Gatehouse's settings.

Built once at startup and kept on `app.state.security`. This is the host's side of the wiring:
which settings feed which core value, which `User` model and which adapter the core works with.
"""

from __future__ import annotations

from app.auth.adapter import GatehouseAdapter
from app.auth.core.clock import Clock
from app.auth.core.jwt_tokens import JwtKeys
from app.auth.core.policy import SecurityPolicy
from app.auth.core.toolkit import Security, make_security
from app.auth.core.toolkit import effective_policy as core_effective_policy
from app.auth.models import User
from app.settings import Settings

__all__ = ("Security", "build_security", "effective_policy")


def effective_policy(settings: Settings) -> SecurityPolicy:
    """The policy with SECURITY_POLICY overrides applied; tests hash cheaply, everything else at full cost."""
    return core_effective_policy(testing=settings.app_env == "test", overrides=settings.security_policy)


def build_security(settings: Settings, clock: Clock | None = None) -> Security:
    """The toolkit for `settings`."""
    return make_security(
        secret=settings.secret,
        base_url=settings.base_url,
        users=User,
        adapter=GatehouseAdapter(),
        policy=effective_policy(settings),
        secure_cookies=settings.cookies_secure,
        clock=clock,
        trusted_proxies=settings.trusted_proxies,
        ratelimit_redis_url=settings.ratelimit_redis_url,
        # Apps sharing one Redis already need distinct queue names; the counters follow them.
        ratelimit_prefix=f"{settings.saq_queue_name}:ratelimit:",
        # Loaded with the session on every request, so pages can greet the user without a query.
        current_user_columns=("display_name", "created_at"),
        site_name=settings.app_name,
        oauth_providers=settings.oauth_provider_list,
        dns_nameservers=settings.dns_nameservers,
        dns_port=settings.dns_port,
        dns_timeout=settings.dns_timeout,
        api_jwt=api_jwt_keys(settings),
    )


def api_jwt_keys(settings: Settings) -> JwtKeys | None:
    """The API JWT key set (None when switched off): the configured keys, else one derived from the secret."""
    if not settings.api_jwt_enabled:
        return None
    if not settings.api_jwt_keys:
        return JwtKeys.derived(settings.secret)  # outside prod only (the settings refuse it there)
    entries = [
        (key.kid, key.alg, key.private_key.get_secret_value().encode()) for key in settings.api_jwt_keys
    ]
    return JwtKeys.from_pem(entries, settings.api_jwt_active_kid)
