"""Housekeeping: delete what has expired, so the tables stay small and nothing stale can be reused.

Runs as a periodic job (every ten minutes, see `app.worker`). Expired rows are already ignored
where they are read; this only reclaims space. Sign-in throttles are kept for a long time on
purpose: forgetting them early would let a patient attacker go past the hard cap [11].
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.core.clock import Clock, SystemClock
from app.auth.core.models import (
    AuthSession,
    EmailToken,
    LoginThrottle,
    OAuthFlow,
    RateLimitCounter,
    RememberToken,
)
from app.auth.core.policy import DEFAULT_POLICY, SecurityPolicy

log = structlog.get_logger(__name__)

SPENT_TOKEN_RETENTION = timedelta(days=7)
"""Used or expired mailed tokens are kept a week (for support questions), then deleted."""
THROTTLE_RETENTION = timedelta(days=30)
"""A throttle row with no failure for this long is forgotten (unless it demands a reset)."""


async def purge_expired_rows(
    engine: AsyncEngine, clock: Clock, policy: SecurityPolicy = DEFAULT_POLICY
) -> dict[str, int]:
    """Delete expired sessions, remember-me tokens, mailed tokens, counters, provider trips and idle throttles."""
    now = clock.now()
    statements = {
        "sessions": delete(AuthSession).where(
            or_(AuthSession.expires_at <= now, AuthSession.last_seen_at <= now - policy.session_idle_timeout)
        ),
        "remember_tokens": delete(RememberToken).where(RememberToken.expires_at <= now),
        "email_tokens": delete(EmailToken).where(EmailToken.expires_at <= now - SPENT_TOKEN_RETENTION),
        "rate_limit_counters": delete(RateLimitCounter).where(RateLimitCounter.expires_at <= now),
        "oauth_flows": delete(OAuthFlow).where(OAuthFlow.expires_at <= now),
        "login_throttles": delete(LoginThrottle).where(
            and_(
                LoginThrottle.requires_reset.is_(False),
                LoginThrottle.last_failure_at <= now - THROTTLE_RETENTION,
            )
        ),
    }
    deleted: dict[str, int] = {}
    async with engine.begin() as conn:
        for name, statement in statements.items():
            result = await conn.execute(statement)
            deleted[name] = result.rowcount or 0
    return deleted


async def purge_expired(ctx: dict[str, Any]) -> dict[str, int]:
    """The periodic job: purge with the worker's engine."""
    deleted = await purge_expired_rows(ctx["engine"], SystemClock(), ctx.get("policy", DEFAULT_POLICY))
    log.info("maintenance.purged", **deleted)
    return deleted
