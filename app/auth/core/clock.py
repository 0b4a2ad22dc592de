"""Time, injected: production reads the system clock, tests move a frozen one forward.

Every expiry decision in core takes a `Clock`, never calls `datetime.now()` itself, so tests can
travel to "idle timeout + 1 second" without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ("Clock", "FrozenClock", "SystemClock")


class Clock(Protocol):
    """Something that tells the current time (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant, UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until told to move (tests only)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._now = at or datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")

    def now(self) -> datetime:
        """The frozen instant."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` and return the new time."""
        self._now += delta
        return self._now

    def set(self, at: datetime) -> None:
        """Jump to `at`."""
        self._now = at
