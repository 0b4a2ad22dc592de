"""The session facts impersonation rests on: a marked session, never sudo, with its own end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from app.auth.core.clock import FrozenClock
from app.auth.core.policy import DEFAULT_POLICY
from app.auth.core.session_store import CurrentSession
from app.auth.core.sessions import SessionKind, start_session, sudo_is_fresh

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_an_impersonation_session_never_counts_as_fresh_credentials() -> None:
    new = start_session(SessionKind.IMPERSONATION, clock=FrozenClock(NOW), policy=DEFAULT_POLICY)
    assert new.authenticated_at is None
    assert not sudo_is_fresh(new.authenticated_at, NOW, DEFAULT_POLICY)


def test_a_session_with_an_impersonator_says_so() -> None:
    own = CurrentSession(id=uuid4(), kind="password", created_at=NOW, authenticated_at=NOW)
    acting = CurrentSession(
        id=uuid4(), kind="impersonation", created_at=NOW, authenticated_at=None,
        expires_at=NOW + DEFAULT_POLICY.impersonation_max, impersonator_id=uuid4(),
    )  # fmt: skip
    assert not own.is_impersonation
    assert acting.is_impersonation


def test_impersonation_is_shorter_than_a_session() -> None:
    assert DEFAULT_POLICY.impersonation_max == timedelta(minutes=30)
    assert DEFAULT_POLICY.impersonation_max < DEFAULT_POLICY.session_absolute_timeout
