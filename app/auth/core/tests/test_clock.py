"""The clocks: the system clock is UTC-aware; the frozen one moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.auth.core.clock import FrozenClock, SystemClock


def test_system_clock_is_timezone_aware() -> None:
    assert SystemClock().now().tzinfo is not None


def test_frozen_clock_stands_still_until_advanced() -> None:
    clock = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(minutes=5)) == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    clock.set(datetime(2031, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2031


def test_frozen_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2030, 1, 1))
