"""Rate limits and sign-in throttles on real stores, shared by app processes, failing closed [11]-[13]."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, post
from litestar.exceptions import ValidationException
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.limits import (
    AUTH_POST_PER_IP,
    EMAILS_PER_ADDRESS,
    PostgresCounterStore,
    PostgresThrottleStore,
    RedisCounterStore,
    client_address,
    enforce,
    limit_posts_per_ip,
    purge_expired,
    start_limits,
    stop_limits,
)
from app.auth.core.ratelimit import LimiterUnavailable, RateLimiter, RateLimitExceeded, Rule
from app.auth.core.throttle import ThrottleState
from app.auth.models import LoginThrottle, RateLimitCounter
from app.db import DBSession
from app.settings import Settings
from tests.support.web import BASE_URL, WebClient

PROXY = "10.0.0.10"
THROTTLE_KEY = b"t" * 32
PER_MINUTE = Rule("test.posts", limit=10, window=timedelta(minutes=1))
LIMIT = AUTH_POST_PER_IP.limit


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()  # the start of a minute: no test straddles two windows


@pytest.fixture
async def workers(settings: Settings, db: AsyncSession) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines with their own pools, standing in for two app processes."""
    first, second = (create_async_engine(settings.sqlalchemy_url) for _ in range(2))
    yield first, second
    await first.dispose()
    await second.dispose()


async def counter_rows(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        return [(row.key, row.count) for row in await conn.execute(select(RateLimitCounter))]


# --- the PostgreSQL counter store


async def test_postgres_counts_fifty_concurrent_hits_exactly(engine: AsyncEngine, db: AsyncSession) -> None:
    store = PostgresCounterStore(engine)
    expires = datetime.now(UTC) + timedelta(minutes=1)
    counts = await asyncio.gather(*(store.hit("test:concurrent", expires) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))


async def test_two_workers_share_one_count_per_client(
    workers: tuple[AsyncEngine, AsyncEngine], clock: FrozenClock
) -> None:
    first, second = (RateLimiter(PostgresCounterStore(engine), clock) for engine in workers)
    for _ in range(5):
        await first.hit(PER_MINUTE, "203.0.113.5")
        await second.hit(PER_MINUTE, "203.0.113.5")
    for limiter in (first, second):
        with pytest.raises(RateLimitExceeded):
            await limiter.hit(PER_MINUTE, "203.0.113.5")


async def test_concurrent_hits_from_two_workers_let_exactly_the_limit_through(
    workers: tuple[AsyncEngine, AsyncEngine], clock: FrozenClock
) -> None:
    first, second = (RateLimiter(PostgresCounterStore(engine), clock) for engine in workers)
    hits = [limiter.hit(PER_MINUTE, "203.0.113.5") for _ in range(8) for limiter in (first, second)]
    outcomes = await asyncio.gather(*hits, return_exceptions=True)
    counted = [o for o in outcomes if isinstance(o, int)]
    assert len(counted) == PER_MINUTE.limit
    assert sorted(counted) == list(range(1, PER_MINUTE.limit + 1))  # each hit saw its own count
    assert all(isinstance(o, RateLimitExceeded) for o in outcomes if not isinstance(o, int))


async def test_expired_counters_are_purged(engine: AsyncEngine, db: AsyncSession) -> None:
    store = PostgresCounterStore(engine)
    now = datetime.now(UTC)
    await store.hit("test:old", now - timedelta(seconds=1))
    await store.hit("test:current", now + timedelta(minutes=1))
    assert await purge_expired(engine, now) == 1
    assert await counter_rows(engine) == [("test:current", 1)]


async def test_counter_keys_do_not_contain_the_email(
    engine: AsyncEngine, db: AsyncSession, clock: FrozenClock
) -> None:
    await RateLimiter(PostgresCounterStore(engine), clock).hit(EMAILS_PER_ADDRESS, "ada@example.com")
    [(key, count)] = await counter_rows(engine)
    assert "ada" not in key
    assert key.startswith("email.address:")
    assert count == 1


# --- the PostgreSQL throttle store


async def test_two_workers_recording_failures_at_once_lose_none(
    workers: tuple[AsyncEngine, AsyncEngine], clock: FrozenClock
) -> None:
    store = PostgresThrottleStore(THROTTLE_KEY, clock)

    async def fail_once(engine: AsyncEngine) -> ThrottleState:
        async with AsyncSession(engine) as session:  # each failure is its own request
            state = await store.record_failure(session, "ada@example.com")
            await session.commit()
            return state

    states = await asyncio.gather(*(fail_once(engine) for _ in range(10) for engine in workers))
    assert sorted(state.failures for state in states) == list(range(1, 21))
    async with AsyncSession(workers[0]) as session:
        assert (await store.state(session, "ada@example.com")).failures == 20


async def test_the_sixth_attempt_waits_and_the_row_holds_no_address(
    engine: AsyncEngine, db: AsyncSession, clock: FrozenClock
) -> None:
    throttles = PostgresThrottleStore(THROTTLE_KEY, clock)
    for _ in range(5):
        assert (await throttles.check(db, "ada@example.com")).allowed
        await throttles.record_failure(db, "ada@example.com")
    await db.commit()
    decision = await throttles.check(db, "ada@example.com")
    assert not decision.allowed
    assert decision.retry_after == 1
    assert (await throttles.check(db, "bob@example.com")).allowed

    row = (await db.scalars(select(LoginThrottle))).one()
    assert row.failures == 5
    assert row.last_failure_at == clock.now()
    assert row.locked_until == clock.now() + timedelta(seconds=1)
    assert b"ada" not in row.key_hash


async def test_clearing_forgets_the_failures(
    engine: AsyncEngine, db: AsyncSession, clock: FrozenClock
) -> None:
    throttles = PostgresThrottleStore(THROTTLE_KEY, clock)
    await throttles.record_failure(db, "ada@example.com")
    await throttles.clear(db, "ada@example.com")
    await db.commit()
    assert (await throttles.state(db, "ada@example.com")).failures == 0
    assert await db.scalar(select(func.count()).select_from(LoginThrottle)) == 0


# --- failing closed


async def test_an_unreachable_redis_fails_closed(clock: FrozenClock) -> None:
    store = RedisCounterStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(LimiterUnavailable):
        await RateLimiter(store, clock).hit(PER_MINUTE, "203.0.113.5")
    await store.aclose()


async def test_an_unreachable_postgres_fails_closed(settings: Settings, clock: FrozenClock) -> None:
    url = make_url(settings.sqlalchemy_url).set(host="127.0.0.1", port=1, query={})
    engine = create_async_engine(url)
    with pytest.raises(LimiterUnavailable):
        await RateLimiter(PostgresCounterStore(engine), clock).hit(PER_MINUTE, "203.0.113.5")
    await engine.dispose()


# --- through the app


@pytest.fixture
async def limited_app(settings: Settings, db: AsyncSession) -> AsyncIterator[Litestar]:
    """The app trusting PROXY, with guarded test routes and a limiter on a frozen clock."""
    app = create_app(settings.model_copy(update={"trusted_proxies": [PROXY], "saq_in_process_worker": False}))

    @post("/limited", guards=[limit_posts_per_ip], include_in_schema=False)
    async def limited() -> str:
        return "ok"

    @post("/other-limited", guards=[limit_posts_per_ip], include_in_schema=False)
    async def other_limited() -> str:
        return "ok"

    @post("/reset/{token:str}", guards=[limit_posts_per_ip], include_in_schema=False)
    async def reset() -> str:
        return "ok"

    @post("/rolls-back", include_in_schema=False)
    async def rolls_back(request: Request[Any, Any, Any], db_session: DBSession) -> None:
        await enforce(request, EMAILS_PER_ADDRESS, "ada@example.com")
        db_session.add(LoginThrottle(key_hash=b"m" * 32))  # the request's own work, after the count
        await db_session.flush()
        raise ValidationException("the request fails after counting")

    for handler in (limited, other_limited, reset, rolls_back):
        app.register(handler)
    started, stopping = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        # anyio wants the lifespan entered and left by one task; the tests talk to the app meanwhile.
        async with app.lifespan():
            started.set()
            await stopping.wait()

    server = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if server.done():
        server.result()  # startup failed: show why
    if app.state.get("limiter") is None:  # until app.asgi runs start_limits at startup
        await start_limits(app)
    app.state.limiter = RateLimiter(app.state.limiter.store, FrozenClock())
    yield app
    stopping.set()
    await server


def browser(app: Litestar, peer: str) -> WebClient:
    """A browser whose requests arrive from `peer` (the test client's own peer is not an IP)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return WebClient(httpx.AsyncClient(transport=transport, base_url=BASE_URL))  # type: ignore[arg-type]


async def post_times(client: WebClient, path: str, times: int, forwarded_for: str | None = None) -> list[int]:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    return [(await client.submit(path, headers=headers)).status_code for _ in range(times)]


async def test_the_eleventh_post_in_a_minute_gets_429_with_retry_after(limited_app: Litestar) -> None:
    client = browser(limited_app, "203.0.113.5")
    assert await post_times(client, "/limited", LIMIT) == [201] * LIMIT
    refused = await client.submit("/limited")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert "<h1>Too many requests</h1>" in refused.text


async def test_another_client_address_is_unaffected(limited_app: Litestar) -> None:
    await post_times(browser(limited_app, "203.0.113.5"), "/limited", LIMIT + 1)
    assert (await browser(limited_app, "198.51.100.7").submit("/limited")).status_code == 201


async def test_clients_behind_a_trusted_proxy_are_counted_apart(limited_app: Litestar) -> None:
    client = browser(limited_app, PROXY)
    assert await post_times(client, "/limited", LIMIT + 1, "203.0.113.5") == [201] * LIMIT + [429]
    assert await post_times(client, "/limited", 1, "198.51.100.7") == [201]


async def test_a_spoofed_forwarded_for_does_not_buy_a_fresh_count(limited_app: Litestar) -> None:
    client = browser(limited_app, "203.0.113.5")  # not a trusted proxy
    await post_times(client, "/limited", LIMIT)
    assert await post_times(client, "/limited", 1, forwarded_for="198.51.100.99") == [429]


async def test_each_endpoint_has_its_own_count(limited_app: Litestar) -> None:
    client = browser(limited_app, "203.0.113.5")
    await post_times(client, "/limited", LIMIT + 1)
    assert (await client.submit("/other-limited")).status_code == 201


async def test_path_parameters_do_not_make_new_endpoints(limited_app: Litestar) -> None:
    client = browser(limited_app, "203.0.113.5")
    statuses = [(await client.submit(f"/reset/token-{n}")).status_code for n in range(LIMIT + 1)]
    assert statuses == [201] * LIMIT + [429]


async def test_client_address_believes_forwarded_for_only_from_trusted_proxies(limited_app: Litestar) -> None:
    @post("/whoami", include_in_schema=False)
    async def whoami(request: Request[Any, Any, Any]) -> str:
        return client_address(request)

    limited_app.register(whoami)
    forwarded = {"x-forwarded-for": "198.51.100.7"}
    behind_proxy = await browser(limited_app, PROXY).submit("/whoami", headers=forwarded)
    direct = await browser(limited_app, "203.0.113.5").submit("/whoami", headers=forwarded)
    assert behind_proxy.text == "198.51.100.7"
    assert direct.text == "203.0.113.5"


async def test_a_count_made_during_a_request_that_rolls_back_still_stands(
    limited_app: Litestar, engine: AsyncEngine, db: AsyncSession
) -> None:
    response = await browser(limited_app, "203.0.113.5").submit("/rolls-back")
    assert response.status_code == 400
    assert await db.scalar(select(func.count()).select_from(LoginThrottle)) == 0  # the request rolled back
    [(key, count)] = await counter_rows(engine)
    assert key.startswith("email.address:")
    assert count == 1


async def test_the_app_answers_429_when_the_store_is_down(limited_app: Litestar) -> None:
    limited_app.state.limiter = RateLimiter(RedisCounterStore("redis://127.0.0.1:1/0"), FrozenClock())
    refused = await browser(limited_app, "203.0.113.5").submit("/limited")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    await limited_app.state.limiter.store.aclose()


async def test_startup_puts_the_limiter_and_the_throttles_in_place(settings: Settings) -> None:
    app = create_app(settings)
    await start_limits(app)
    assert isinstance(app.state.limiter.store, PostgresCounterStore)
    assert isinstance(app.state.throttles, PostgresThrottleStore)
    assert app.state.throttles.clock is app.state.security.clock  # tests that freeze time freeze both
    assert app.state.limiter.clock is app.state.security.clock
    assert app.state.throttles.key != settings.secret  # a key of its own, derived from SECRET_KEY


async def test_counters_live_in_redis_when_configured(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"ratelimit_redis_url": "redis://127.0.0.1:1/0"}))
    await start_limits(app)
    store = app.state.limiter.store
    assert isinstance(store, RedisCounterStore)
    assert store.prefix == f"{settings.saq_queue_name}:ratelimit:"  # apps sharing a Redis stay apart
    await stop_limits(app)


# --- Redis


def redis_url() -> str:
    url = os.environ.get("RATELIMIT_REDIS_URL") or os.environ.get("SAQ_REDIS_URL")
    if not url:
        pytest.skip(
            "no Redis to test against: set RATELIMIT_REDIS_URL or SAQ_REDIS_URL (CI's second pass does)"
        )
    return url


@pytest.mark.redis
async def test_redis_counts_and_shares_counters_between_workers() -> None:
    url = redis_url()
    clock = FrozenClock(datetime.now(UTC))  # real time, so Redis expires the test keys within a minute
    prefix = f"gatehouse-test-{uuid.uuid4().hex}:"
    stores = [RedisCounterStore(url, prefix=prefix) for _ in range(2)]
    first, second = (RateLimiter(store, clock) for store in stores)
    try:
        counts = await asyncio.gather(
            *(stores[0].hit("test:concurrent", clock.now() + timedelta(minutes=1)) for _ in range(50))
        )
        assert sorted(counts) == list(range(1, 51))

        for _ in range(5):
            await first.hit(PER_MINUTE, "203.0.113.5")
            await second.hit(PER_MINUTE, "203.0.113.5")
        with pytest.raises(RateLimitExceeded) as refused:
            await first.hit(PER_MINUTE, "203.0.113.5")
        assert 1 <= refused.value.retry_after <= 60

        keys = [key async for key in stores[0].redis.scan_iter(f"{prefix}*")]
        assert len(keys) == 2
        ttls = [await stores[0].redis.pttl(key) for key in keys]
        assert all(0 < ttl <= 60_000 for ttl in ttls)  # Redis forgets them when their window ends
    finally:
        for store in stores:
            await store.aclose()


@pytest.mark.redis
async def test_redis_store_reconnects_after_losing_its_connection() -> None:
    url = redis_url()
    clock = FrozenClock(datetime.now(UTC))
    store = RedisCounterStore(url, prefix=f"gatehouse-test-{uuid.uuid4().hex}:")
    limiter = RateLimiter(store, clock)
    try:
        await limiter.hit(PER_MINUTE, "203.0.113.5")
        # Another client closes the store's connection, as a Redis restart or an idle timeout would.
        async with Redis.from_url(url) as admin:
            assert await admin.client_kill_filter(_id=await store.redis.client_id()) == 1
        await limiter.hit(PER_MINUTE, "203.0.113.5")
    finally:
        await store.aclose()
