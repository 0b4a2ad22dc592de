"""Per-account sign-in throttling: growing delays after repeated failures, then a hard stop [11][12].

Counting is per email address, not per client address: a password-guessing botnet spreads over
thousands of IPs but aims at one account. The first few failures are free (people mistype);
after that each failure doubles the wait before the next attempt, up to a ceiling; after the hard
cap only a password reset by email (or another proof of ownership) unlocks the address.

The state is keyed by an HMAC of the canonical address, whether or not an account has it, so an
unknown address behaves exactly like a known one (no oracle) and no raw address is stored.

Callers follow three rules, all outside this module:

* ask `decide` before checking the password, and when it says no, answer with the generic
  "try later" page without checking the password and without recording a failure: attempts
  refused by the throttle do not count, so an attacker cannot push someone else's account to the
  hard cap faster than the delays allow;
* after a wrong password, store `after_failure(...)`;
* after a success (or a completed password reset) delete the state.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auth.core.policy import SecurityPolicy

__all__ = ("ThrottleDecision", "ThrottleState", "after_failure", "decide", "delay_after", "throttle_key")


@dataclass(frozen=True)
class ThrottleState:
    """Consecutive sign-in failures for one address. The initial value means "no failures"."""

    failures: int = 0
    last_failure_at: datetime | None = None
    requires_reset: bool = False


@dataclass(frozen=True)
class ThrottleDecision:
    """Whether a sign-in attempt may go ahead; if not, how many seconds until it may."""

    allowed: bool
    retry_after: int
    """Whole seconds to wait; 0 when allowed."""
    requires_reset: bool
    """True when only a password reset unlocks the address (the hard cap was reached)."""


def throttle_key(canonical_email: str, key: bytes) -> bytes:
    """The 32-byte lookup key for `canonical_email` (HMAC-SHA256 under a server secret)."""
    return hmac.new(key, canonical_email.encode(), hashlib.sha256).digest()


def delay_after(failures: int, policy: SecurityPolicy) -> timedelta:
    """How long the next attempt must wait after `failures` consecutive failures."""
    if failures < policy.login_free_failures:
        return timedelta(0)
    # Float arithmetic: 2**95 seconds would overflow a timedelta before the cap applied.
    doubled = policy.login_first_delay.total_seconds() * 2.0 ** (failures - policy.login_free_failures)
    return timedelta(seconds=min(doubled, policy.login_max_delay.total_seconds()))


def decide(state: ThrottleState, now: datetime, policy: SecurityPolicy) -> ThrottleDecision:
    """May the address in `state` try to sign in at `now`?"""
    if state.requires_reset or state.failures >= policy.login_hard_cap:
        # No countdown would be honest here; tell the client what a long delay would say.
        return ThrottleDecision(
            allowed=False, retry_after=_seconds(policy.login_max_delay), requires_reset=True
        )
    if state.last_failure_at is None:
        return ThrottleDecision(allowed=True, retry_after=0, requires_reset=False)
    wait = state.last_failure_at + delay_after(state.failures, policy) - now
    if wait <= timedelta(0):
        return ThrottleDecision(allowed=True, retry_after=0, requires_reset=False)
    return ThrottleDecision(allowed=False, retry_after=max(1, _seconds(wait)), requires_reset=False)


def after_failure(state: ThrottleState, now: datetime, policy: SecurityPolicy) -> ThrottleState:
    """The state after one more wrong password at `now`."""
    failures = state.failures + 1
    # Two processes may record failures out of order; the delay runs from the latest one.
    last = now if state.last_failure_at is None else max(now, state.last_failure_at)
    return ThrottleState(
        failures=failures,
        last_failure_at=last,
        requires_reset=state.requires_reset or failures >= policy.login_hard_cap,
    )


def _seconds(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds())
