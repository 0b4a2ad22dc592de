"""Session timing decisions: idle and absolute deadlines, touch throttling, the sudo window [20][28]."""

from __future__ import annotations

from datetime import timedelta

from app.auth.core.clock import FrozenClock
from app.auth.core.policy import DEFAULT_POLICY
from app.auth.core.sessions import (
    SessionKind,
    SessionTimes,
    is_live,
    needs_touch,
    start_session,
    sudo_is_fresh,
    sudo_remaining,
)
from app.auth.core.tokens import token_digest

POLICY = DEFAULT_POLICY


def test_a_new_session_stores_only_the_digest_of_its_token() -> None:
    clock = FrozenClock()
    new = start_session(SessionKind.PASSWORD, clock=clock, policy=POLICY)
    assert len(new.token) >= 43
    assert new.token_hash == token_digest(new.token)
    assert new.expires_at == clock.now() + timedelta(hours=12)
    assert new.authenticated_at == clock.now()


def test_tokens_never_repeat() -> None:
    clock = FrozenClock()
    tokens = {start_session(SessionKind.PASSWORD, clock=clock, policy=POLICY).token for _ in range(10_000)}
    assert len(tokens) == 10_000


def test_a_remembered_session_has_presented_no_credentials() -> None:
    new = start_session(SessionKind.REMEMBERED, clock=FrozenClock(), policy=POLICY)
    assert new.authenticated_at is None


def test_idle_deadline() -> None:
    clock = FrozenClock()
    now = clock.now()
    times = SessionTimes(last_seen_at=now, expires_at=now + timedelta(hours=12), authenticated_at=now)
    assert is_live(times, now + timedelta(minutes=29, seconds=59), POLICY)
    assert not is_live(times, now + timedelta(minutes=30), POLICY)


def test_absolute_deadline_beats_activity() -> None:
    now = FrozenClock().now()
    times = SessionTimes(
        last_seen_at=now + timedelta(hours=12), expires_at=now + timedelta(hours=12), authenticated_at=now
    )
    assert not is_live(times, now + timedelta(hours=12), POLICY)


def test_last_seen_is_written_at_most_once_a_minute() -> None:
    now = FrozenClock().now()
    times = SessionTimes(last_seen_at=now, expires_at=now + timedelta(hours=1), authenticated_at=None)
    assert not needs_touch(times, now + timedelta(seconds=59), POLICY)
    assert needs_touch(times, now + timedelta(seconds=60), POLICY)


def test_sudo_window_is_fifteen_minutes_from_authentication() -> None:
    now = FrozenClock().now()
    assert sudo_is_fresh(now, now + timedelta(minutes=14, seconds=59), POLICY)
    assert not sudo_is_fresh(now, now + timedelta(minutes=15), POLICY)
    assert not sudo_is_fresh(None, now, POLICY)
    assert sudo_remaining(now, now + timedelta(minutes=5), POLICY) == timedelta(minutes=10)
    assert sudo_remaining(None, now, POLICY) == timedelta(0)


def test_only_a_password_or_passkey_sign_in_counts_for_sudo() -> None:
    clock = FrozenClock()
    for kind in SessionKind:
        new = start_session(kind, clock=clock, policy=POLICY)
        presented = kind in (SessionKind.PASSWORD, SessionKind.PASSKEY)
        assert (new.authenticated_at is not None) is presented, kind
