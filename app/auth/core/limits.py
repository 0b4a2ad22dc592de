"""Rate limits and sign-in throttles, wired to the app: the stores, the rules, a guard [11]-[13].

The logic lives in `app.auth.core.ratelimit` and `app.auth.core.throttle`; this module gives it
storage every app process shares (PostgreSQL, or Redis when RATELIMIT_REDIS_URL is set) and the
Litestar glue: `enforce()` for handlers and `limit_posts_per_ip` as a guard.

Every count runs on the request's own session and connection, never on a second one from the pool,
and is committed at once: a sign-in that fails answers with an error status, the rest of the
request's transaction rolls back, and the failure must still count.

Start with `start_limits` (on_startup), which puts `app.state.limiter` and `app.state.throttles`
in place; `stop_limits` (on_shutdown) closes a Redis connection pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from litestar.exceptions import ServiceUnavailableException, TooManyRequestsException
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.auth.core.clock import Clock
from app.auth.core.db import request_session
from app.auth.core.models import LoginThrottle, RateLimitCounter
from app.auth.core.net import client_ip
from app.auth.core.policy import DEFAULT_POLICY, SecurityPolicy
from app.auth.core.ratelimit import LimiterUnavailable, RateLimiter, RateLimitExceeded, Rule, StoreBusy
from app.auth.core.throttle import ThrottleDecision, ThrottleState, after_failure, decide, throttle_key
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LimitRules:
    """The rate-limit rules, built from the effective policy at startup (`app.state.limit_rules`)."""

    auth_post: Rule
    """POSTs per client address per minute; `limit_posts_per_ip` appends the endpoint to the name."""
    emails_per_address: Rule
    """Mails per recipient address per hour, for every endpoint that sends one."""
    emails_per_ip: Rule
    """Mail-sending requests per client address per hour."""
    password_checks: Rule
    """As-you-type password feedback requests per client address per minute (cheap, but not free)."""


def rules_for(policy: SecurityPolicy) -> LimitRules:
    """The rules `policy` implies."""
    return LimitRules(
        auth_post=Rule("auth.post.ip", policy.ip_auth_posts_per_minute, timedelta(minutes=1)),
        emails_per_address=Rule("email.address", policy.emails_per_address_per_hour, timedelta(hours=1)),
        emails_per_ip=Rule("email.ip", policy.emails_per_ip_per_hour, timedelta(hours=1)),
        password_checks=Rule(
            "auth.password_check.ip", 6 * policy.ip_auth_posts_per_minute, timedelta(minutes=1)
        ),
    )


_DEFAULT_RULES = rules_for(DEFAULT_POLICY)
AUTH_POST_PER_IP = _DEFAULT_RULES.auth_post
EMAILS_PER_ADDRESS = _DEFAULT_RULES.emails_per_address
EMAILS_PER_IP = _DEFAULT_RULES.emails_per_ip

BUSY_RETRY_AFTER = 2
"""Seconds a client is told to wait when no database connection came free in time."""

UNAVAILABLE_RETRY_AFTER = 60
"""Seconds a client is told to wait when the counter store is down (we refuse rather than guess)."""


class PostgresCounterStore:
    """Counters in the `rate_limit_counters` table: one atomic upsert per hit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def hit(self, key: str, expires_at: datetime, *, using: AsyncSession | None = None) -> int:
        """Add one to `key` and return the new count.

        With `using` (the request's session) the count runs on that session's connection and is
        committed at once, so it stands even if the request fails; without it, on a connection
        of its own (jobs, tests).
        """
        statement = (
            insert(RateLimitCounter)
            .values(key=key, count=1, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=["key"],
                # Column onupdate defaults do not fire for ON CONFLICT, so updated_at is set here.
                set_={"count": RateLimitCounter.count + 1, "updated_at": datetime.now(UTC)},
            )
            .returning(RateLimitCounter.count)
        )
        if using is not None:
            try:
                count = int((await using.execute(statement)).scalar_one())
            except PoolTimeoutError as exc:  # every connection busy: the app's 503, not a refusal
                raise StoreBusy() from exc
            await using.commit()
            return count
        async with self.engine.begin() as conn:
            return int((await conn.execute(statement)).scalar_one())


async def purge_expired(engine: AsyncEngine, now: datetime) -> int:
    """Delete counters whose window ended before `now`; return how many went."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at <= now))
    return result.rowcount


class RedisCounterStore:
    """Counters in Redis: INCR and PEXPIREAT in one MULTI/EXEC, so Redis forgets each window itself."""

    def __init__(self, url: str, *, prefix: str = "gatehouse:ratelimit:") -> None:
        self.prefix = prefix
        # Short timeouts and a single retry: a dropped connection is replaced transparently, but
        # a Redis that is down makes the request fail (closed) within seconds, not minutes.
        self.redis = Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        )

    async def hit(self, key: str, expires_at: datetime, *, using: object = None) -> int:
        """Add one to `key` and return the new count (`using` is not needed here)."""
        name = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpireat(name, expires_at)
            count, _ = await pipe.execute()
        return int(count)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()


def build_limiter(security: Security, engine: AsyncEngine) -> RateLimiter:
    """The app's limiter: counters in Redis when the toolkit names one, else in PostgreSQL."""
    if security.ratelimit_redis_url:
        store = RedisCounterStore(security.ratelimit_redis_url, prefix=security.ratelimit_prefix)
        return RateLimiter(store, security.clock)
    return RateLimiter(PostgresCounterStore(engine), security.clock)


class PostgresThrottleStore:
    """Sign-in failures per address in `login_throttles`, safe under concurrent app processes.

    Every call runs on the session it is given, normally the request's own: a request never needs
    a second pool connection for its throttle (under a burst of sign-ins, requests holding one
    connection while waiting for another would exhaust the pool). A failure must outlive the
    failing request, so the callers commit right after `record_failure`.
    """

    def __init__(self, key: bytes, clock: Clock, policy: SecurityPolicy = DEFAULT_POLICY) -> None:
        self.key = key
        self.clock = clock
        self.policy = policy

    async def state(self, db: AsyncSession, canonical_email: str) -> ThrottleState:
        """The current failures of `canonical_email` (the empty state when there are none)."""
        query = select(
            LoginThrottle.failures, LoginThrottle.last_failure_at, LoginThrottle.requires_reset
        ).where(LoginThrottle.key_hash == self._key(canonical_email))
        row = (await db.execute(query)).one_or_none()
        if row is None:
            return ThrottleState()
        return ThrottleState(row.failures, row.last_failure_at, row.requires_reset)

    async def check(self, db: AsyncSession, canonical_email: str) -> ThrottleDecision:
        """May `canonical_email` try to sign in now?"""
        return decide(await self.state(db, canonical_email), self.clock.now(), self.policy)

    async def record_failure(self, db: AsyncSession, canonical_email: str) -> ThrottleState:
        """Count one more wrong password for `canonical_email` and return the new state."""
        key_hash, now = self._key(canonical_email), self.clock.now()
        # Make sure the row exists, then lock it: concurrent failures queue up behind the lock and
        # each one builds on the state the previous one wrote.
        await db.execute(
            insert(LoginThrottle)
            .values(key_hash=key_hash)
            .on_conflict_do_nothing(index_elements=["key_hash"])
        )
        row = (
            await db.execute(
                select(LoginThrottle.failures, LoginThrottle.last_failure_at, LoginThrottle.requires_reset)
                .where(LoginThrottle.key_hash == key_hash)
                .with_for_update()
            )
        ).one()
        state = after_failure(
            ThrottleState(row.failures, row.last_failure_at, row.requires_reset), now, self.policy
        )
        await db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key_hash == key_hash)
            .values(
                failures=state.failures,
                last_failure_at=state.last_failure_at,
                requires_reset=state.requires_reset,
                locked_until=self._locked_until(state, now),
                updated_at=now,
            )
        )
        return state

    async def clear(self, db: AsyncSession, canonical_email: str) -> None:
        """Forget the failures of `canonical_email` (after a success or a password reset)."""
        await db.execute(delete(LoginThrottle).where(LoginThrottle.key_hash == self._key(canonical_email)))

    def _key(self, canonical_email: str) -> bytes:
        return throttle_key(canonical_email, self.key)

    def _locked_until(self, state: ThrottleState, now: datetime) -> datetime | None:
        # Stored for people (support, the admin console); decisions are always recomputed.
        decision = decide(state, now, self.policy)
        if decision.allowed or decision.requires_reset:
            return None
        return now + timedelta(seconds=decision.retry_after)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address, taking X-Forwarded-For only from TRUSTED_PROXIES."""
    peer = connection.client.host if connection.client else ""
    return client_ip(peer, connection.headers.get("x-forwarded-for"), security_of(connection).trusted_proxies)


async def enforce(connection: ASGIConnection[Any, Any, Any, Any], rule: Rule, subject: str) -> None:
    """Count a hit by `subject` under `rule`; answer 429 with Retry-After when over the limit or unsure.

    The count is committed at once on the request's session, so it stands even when the request
    fails later. That commits what the request did before, too: count before a flow writes.
    """
    try:
        await count_hit(connection, rule, subject)
    except RateLimitExceeded as exc:
        log.warning("ratelimit.exceeded", rule=rule.name, retry_after=exc.retry_after)
        raise TooManyRequestsException(headers={"Retry-After": str(exc.retry_after)}) from exc


async def count_hit(connection: ASGIConnection[Any, Any, Any, Any], rule: Rule, subject: str) -> int:
    """Like `enforce`, but an exceeded limit raises `RateLimitExceeded` for the caller to handle.

    Returns the subject's count in this window so far (for `RateLimit-Remaining`).

    A store that cannot count answers 429 (fail closed); one with no free connection right now, 503.
    """
    limiter: RateLimiter = connection.app.state.limiter
    try:
        return await limiter.hit(rule, subject, using=request_session(connection))
    except StoreBusy as exc:
        raise ServiceUnavailableException(headers={"Retry-After": str(BUSY_RETRY_AFTER)}) from exc
    except LimiterUnavailable as exc:
        # Fail closed: without a count we cannot tell a user from a botnet, so nobody gets in.
        log.error("ratelimit.unavailable", rule=rule.name, exc_info=True)
        raise TooManyRequestsException(headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}) from exc


async def limit_posts_per_ip(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: at most AUTH_POST_PER_IP POSTs per minute from one client address to this endpoint."""
    if connection.scope.get("method") != "POST":
        return
    # The route's template, not the URL: `/reset/{token}` is one endpoint whatever the token.
    endpoint = connection.scope.get("path_template") or connection.url.path
    base = limit_rules(connection.app).auth_post
    rule = replace(base, name=f"{base.name}:{endpoint}")
    await enforce(connection, rule, client_address(connection))


def limit_rules(app: Litestar) -> LimitRules:
    """The app's rules (the defaults until `start_limits` has run)."""
    rules: LimitRules | None = app.state.get("limit_rules")
    return rules or _DEFAULT_RULES


async def start_limits(app: Litestar) -> None:
    """Startup hook: put `app.state.limiter` and `app.state.throttles` in place, on the app's clock."""
    engine: AsyncEngine = app.state.db_config.get_engine()
    # The toolkit carries the clock tests freeze and the effective policy; sign-in decisions and
    # the failures they read must run on the same clock.
    security = security_of(app)
    app.state.limiter = build_limiter(security, engine)
    app.state.throttles = PostgresThrottleStore(security.throttle_key, security.clock, security.policy)
    app.state.limit_rules = rules_for(security.policy)


async def stop_limits(app: Litestar) -> None:
    """Shutdown hook: close the Redis connection pool, if counters live in Redis."""
    limiter: RateLimiter | None = app.state.get("limiter")
    if limiter is not None and isinstance(limiter.store, RedisCounterStore):
        await limiter.store.aclose()
