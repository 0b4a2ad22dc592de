"""Fixed-window rate limits: counting, windows, keys, and failing closed [13]."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from app.auth.core.clock import FrozenClock
from app.auth.core.ratelimit import LimiterUnavailable, RateLimiter, RateLimitExceeded, Rule

PER_MINUTE = Rule("test.posts", limit=3, window=timedelta(minutes=1))


class MemoryCounterStore:
    """A counter store in a dict (tests only: it is neither shared nor persistent)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.expiries: dict[str, datetime] = {}

    async def hit(self, key: str, expires_at: datetime, *, using: object = None) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        self.expiries[key] = expires_at
        return self.counts[key]


class BrokenStore:
    async def hit(self, key: str, expires_at: datetime, *, using: object = None) -> int:
        raise ConnectionRefusedError("store is down")


class HangingStore:
    async def hit(self, key: str, expires_at: datetime, *, using: object = None) -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()  # 12:00:00 sharp: the start of a minute window


@pytest.fixture
def store() -> MemoryCounterStore:
    return MemoryCounterStore()


@pytest.fixture
def limiter(store: MemoryCounterStore, clock: FrozenClock) -> RateLimiter:
    return RateLimiter(store, clock)


async def hit_times(limiter: RateLimiter, rule: Rule, subject: str, times: int) -> None:
    for _ in range(times):
        await limiter.hit(rule, subject)


async def test_hits_up_to_the_limit_pass_and_the_next_is_refused(limiter: RateLimiter) -> None:
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    with pytest.raises(RateLimitExceeded):
        await limiter.hit(PER_MINUTE, "203.0.113.5")


async def test_refused_hits_stay_refused_for_the_rest_of_the_window(
    limiter: RateLimiter, clock: FrozenClock
) -> None:
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        with pytest.raises(RateLimitExceeded):
            await limiter.hit(PER_MINUTE, "203.0.113.5")


async def test_retry_after_is_the_whole_seconds_left_in_the_window(
    limiter: RateLimiter, clock: FrozenClock
) -> None:
    clock.advance(timedelta(seconds=20, milliseconds=500))
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.hit(PER_MINUTE, "203.0.113.5")
    assert refused.value.retry_after == 40
    assert refused.value.rule == PER_MINUTE


async def test_retry_after_is_at_least_one_second(limiter: RateLimiter, clock: FrozenClock) -> None:
    clock.advance(timedelta(seconds=59, milliseconds=900))
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    with pytest.raises(RateLimitExceeded) as refused:
        await limiter.hit(PER_MINUTE, "203.0.113.5")
    assert refused.value.retry_after == 1


async def test_the_next_window_starts_a_fresh_count(limiter: RateLimiter, clock: FrozenClock) -> None:
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    clock.advance(timedelta(minutes=1))
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    with pytest.raises(RateLimitExceeded):
        await limiter.hit(PER_MINUTE, "203.0.113.5")


async def test_counters_expire_when_their_window_ends(
    limiter: RateLimiter, store: MemoryCounterStore, clock: FrozenClock
) -> None:
    clock.advance(timedelta(seconds=7))
    await limiter.hit(PER_MINUTE, "203.0.113.5")
    assert list(store.expiries.values()) == [clock.now() + timedelta(seconds=53)]


async def test_subjects_are_counted_apart(limiter: RateLimiter) -> None:
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    await hit_times(limiter, PER_MINUTE, "198.51.100.7", 3)


async def test_rules_are_counted_apart(limiter: RateLimiter) -> None:
    other = Rule("test.other", limit=3, window=timedelta(minutes=1))
    await hit_times(limiter, PER_MINUTE, "203.0.113.5", 3)
    await hit_times(limiter, other, "203.0.113.5", 3)


async def test_case_and_surrounding_spaces_do_not_buy_a_fresh_count(limiter: RateLimiter) -> None:
    await hit_times(limiter, PER_MINUTE, "ada@example.com", 3)
    with pytest.raises(RateLimitExceeded):
        await limiter.hit(PER_MINUTE, " ADA@example.COM ")


async def test_keys_are_short_and_do_not_contain_the_subject(
    limiter: RateLimiter, store: MemoryCounterStore
) -> None:
    long_email = "someone.with.a.long.name@" + "sub." * 50 + "example.com"
    await limiter.hit(Rule("x" * 200, limit=1, window=timedelta(hours=1)), long_email)
    [key] = store.counts
    assert "someone" not in key
    assert "example" not in key
    assert len(key) <= 255


async def test_a_failing_store_fails_closed(clock: FrozenClock) -> None:
    with pytest.raises(LimiterUnavailable):
        await RateLimiter(BrokenStore(), clock).hit(PER_MINUTE, "203.0.113.5")


async def test_a_store_that_does_not_answer_fails_closed(clock: FrozenClock) -> None:
    with pytest.raises(LimiterUnavailable):
        await RateLimiter(HangingStore(), clock, timeout=0.01).hit(PER_MINUTE, "203.0.113.5")


@pytest.mark.parametrize(
    ("name", "limit", "window"),
    [
        ("", 1, timedelta(minutes=1)),
        ("x" * 201, 1, timedelta(minutes=1)),
        ("ok", 0, timedelta(minutes=1)),
        ("ok", 1, timedelta(0)),
        ("ok", 1, timedelta(milliseconds=1500)),
    ],
)
def test_rules_the_key_format_cannot_express_are_refused(name: str, limit: int, window: timedelta) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the messages are for people, not tests)
        Rule(name, limit=limit, window=window)
