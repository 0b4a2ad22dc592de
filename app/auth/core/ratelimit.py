"""Fixed-window rate limits: at most `limit` hits per `window` for one subject under one rule [13].

A counter per (rule, subject, window) is incremented atomically in a shared store, so every app
process sees the same count. The window number is part of the key: when a window ends, the next
hit lands on a fresh key, and the old one merely waits for its expiry. A fixed window can let
through up to twice the limit across a boundary (end of one window, start of the next); for
slowing down password guessing and mail bombing that is good enough, and it costs one atomic
increment per hit instead of a sorted set per subject.

Subjects (client addresses, email addresses) are hashed into the key, so keys stay short and the
store never holds a raw email address.

The limiter fails closed: when the store cannot answer, `hit` raises `LimiterUnavailable` and the
caller refuses the request. An outage of the store must not switch the brakes off.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.auth.core.clock import Clock

__all__ = (
    "CounterStore",
    "LimiterUnavailable",
    "RateLimitExceeded",
    "RateLimiter",
    "Rule",
    "subject_digest",
)

_MAX_NAME_LENGTH = 200  # leaves room for ":<32 hex>:<window>" in a 255-character key column
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    """At most `limit` hits per `window` for one subject; `name` tells rules apart in the store."""

    name: str
    """Stable identifier such as `auth.login.ip`; renaming it starts every count afresh."""
    limit: int
    """Hits allowed in one window; the next one is refused."""
    window: timedelta
    """Length of a window, in whole seconds."""

    def __post_init__(self) -> None:
        """Refuse rules the key format or the window arithmetic cannot express."""
        if not self.name or len(self.name) > _MAX_NAME_LENGTH:
            raise ValueError(f"a rule name must have 1 to {_MAX_NAME_LENGTH} characters")
        if self.limit < 1:
            raise ValueError("a rule must allow at least one hit per window")
        seconds = self.window.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise ValueError("a rule's window must be a whole number of seconds, at least one")


class RateLimitExceeded(Exception):  # noqa: N818 (a fact, not an error kind: the API's name)
    """The subject used up its hits for this window; it may try again in `retry_after` seconds."""

    def __init__(self, rule: Rule, retry_after: int) -> None:
        super().__init__(f"rate limit {rule.name} exceeded; retry after {retry_after} s")
        self.rule = rule
        self.retry_after = retry_after


class LimiterUnavailable(Exception):  # noqa: N818 (a fact, not an error kind: the API's name)
    """The counter store failed or did not answer in time; callers refuse the request (fail closed)."""


class StoreBusy(Exception):  # noqa: N818 (a fact, not an error kind)
    """The store works but had no capacity just now (no free database connection): retry shortly."""


class CounterStore(Protocol):
    """Where counters live. One method, and it must be atomic across every process of the app."""

    async def hit(self, key: str, expires_at: datetime, *, using: Any = None) -> int:
        """Add one to the counter under `key` (created at 0 if missing) and return the new count.

        The store may forget the key once `expires_at` has passed. `using` is what the caller
        passed to `RateLimiter.hit` (a store in the database counts on that session).
        """
        ...


class RateLimiter:
    """Counts hits per rule and subject in a `CounterStore` and refuses those over the limit."""

    def __init__(self, store: CounterStore, clock: Clock, *, timeout: float = 5.0) -> None:
        self.store = store
        self.clock = clock
        # A store that hangs would hold every auth request; past this many seconds it counts as down.
        self.timeout = timeout

    async def hit(self, rule: Rule, subject: str, *, using: Any = None) -> int:
        """Count one hit by `subject` under `rule` (the count so far); `RateLimitExceeded` once over.

        `using` is handed to the store (the request's database session, for a store in the database).
        """
        now = self.clock.now()
        window = int(rule.window.total_seconds())
        index = math.floor((now - _EPOCH).total_seconds()) // window
        window_end = _EPOCH + timedelta(seconds=(index + 1) * window)
        key = f"{rule.name}:{subject_digest(subject)}:{index}"
        try:
            count = await asyncio.wait_for(self.store.hit(key, window_end, using=using), self.timeout)
        except StoreBusy:
            raise  # healthy, only out of capacity for a moment: "try again shortly", not "refused"
        except Exception as exc:
            raise LimiterUnavailable(f"rate-limit store failed for {rule.name}") from exc
        if count > rule.limit:
            raise RateLimitExceeded(rule, retry_after=max(1, math.ceil((window_end - now).total_seconds())))
        return count


def subject_digest(subject: str) -> str:
    """A short, stable stand-in for `subject` (first 128 bits of SHA-256, hex), case-insensitive."""
    normalised = subject.strip().lower().encode()
    return hashlib.sha256(normalised).hexdigest()[:32]
