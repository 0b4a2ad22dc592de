"""Per-account sign-in throttle: free failures, doubling delays, the cap, the hard stop [11][12]."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.auth.core.clock import FrozenClock
from app.auth.core.policy import DEFAULT_POLICY
from app.auth.core.throttle import ThrottleState, after_failure, decide, delay_after, throttle_key

POLICY = DEFAULT_POLICY


def fail(state: ThrottleState, clock: FrozenClock, times: int = 1) -> ThrottleState:
    """Record `times` failures, each as soon as the throttle allows it."""
    for _ in range(times):
        assert decide(state, clock.now(), POLICY).allowed
        state = after_failure(state, clock.now(), POLICY)
        clock.advance(delay_after(state.failures, POLICY))
    return state


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def test_an_address_without_failures_may_try(clock: FrozenClock) -> None:
    decision = decide(ThrottleState(), clock.now(), POLICY)
    assert decision.allowed
    assert decision.retry_after == 0
    assert not decision.requires_reset


def test_the_first_four_failures_cost_nothing(clock: FrozenClock) -> None:
    state = ThrottleState()
    for _ in range(4):
        state = after_failure(state, clock.now(), POLICY)
        assert decide(state, clock.now(), POLICY).allowed


def test_after_five_failures_the_next_attempt_waits_one_second(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 4)
    state = after_failure(state, clock.now(), POLICY)

    refused = decide(state, clock.now(), POLICY)
    assert not refused.allowed
    assert refused.retry_after == 1
    assert not refused.requires_reset

    clock.advance(timedelta(milliseconds=999))
    assert not decide(state, clock.now(), POLICY).allowed
    clock.advance(timedelta(milliseconds=1))
    assert decide(state, clock.now(), POLICY).allowed


def test_each_further_failure_doubles_the_delay(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 5)
    for expected in (2, 4, 8, 16):
        state = after_failure(state, clock.now(), POLICY)
        assert decide(state, clock.now(), POLICY).retry_after == expected
        clock.advance(timedelta(seconds=expected))
        assert decide(state, clock.now(), POLICY).allowed


def test_the_delay_stops_growing_at_fifteen_minutes(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 20)
    state = after_failure(state, clock.now(), POLICY)
    assert decide(state, clock.now(), POLICY).retry_after == 15 * 60
    assert delay_after(99, POLICY) == timedelta(minutes=15)


def test_the_delay_runs_from_the_latest_failure(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 6)
    clock.advance(timedelta(seconds=1))
    assert decide(state, clock.now(), POLICY).allowed
    state = after_failure(state, clock.now(), POLICY)
    assert decide(state, clock.now(), POLICY).retry_after == 4


def test_a_hundred_failures_lock_the_address_until_reset(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 99)
    assert not state.requires_reset
    state = after_failure(state, clock.now(), POLICY)
    assert state.requires_reset

    clock.advance(timedelta(days=365))
    decision = decide(state, clock.now(), POLICY)
    assert not decision.allowed
    assert decision.requires_reset
    assert decision.retry_after == 15 * 60


def test_a_failure_recorded_late_does_not_move_the_delay_back(clock: FrozenClock) -> None:
    state = fail(ThrottleState(), clock, 5)
    earlier = clock.now() - timedelta(seconds=30)
    assert after_failure(state, earlier, POLICY).last_failure_at == state.last_failure_at


def test_the_key_is_the_same_for_the_same_address_and_differs_otherwise() -> None:
    key = b"k" * 32
    assert throttle_key("ada@example.com", key) == throttle_key("ada@example.com", key)
    assert throttle_key("ada@example.com", key) != throttle_key("bob@example.com", key)
    assert throttle_key("ada@example.com", key) != throttle_key("ada@example.com", b"j" * 32)
    assert len(throttle_key("ada@example.com", key)) == 32
    assert b"ada" not in throttle_key("ada@example.com", key)
