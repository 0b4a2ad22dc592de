"""Sessions that start, resume and end on the server's terms.

A session is a row the server wrote; the browser holds only a random token whose SHA-256 is the
row's key. Nothing the browser sends can create a session: a cookie value the server did not issue
matches no row and is ignored (no fixation, requirement 18), and every privilege change issues a
fresh token. Time limits are decided here, from the row, never from the cookie's Max-Age:

- idle: the session ends when unused for `session_idle_timeout` (30 min);
- absolute: it ends `session_absolute_timeout` (12 h) after it started, however busy;
- sudo: sensitive actions need the password presented within `sudo_window` (15 min); activity does
  not extend it. Sessions begun any other way (remember-me, an emailed link or code, an address
  confirmation, an identity provider) have presented no password: control of a browser, a mailbox
  or an account elsewhere alone must not be enough to change how the account is protected.

The host stores rows; this module only mints tokens and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.auth.core.clock import Clock
from app.auth.core.policy import SecurityPolicy
from app.auth.core.tokens import new_token, token_digest

__all__ = (
    "NewSession",
    "SessionKind",
    "SessionTimes",
    "is_live",
    "needs_touch",
    "start_session",
    "sudo_is_fresh",
    "sudo_remaining",
)


class SessionKind(StrEnum):
    """How a session began; shown on the sessions page and used by policy checks."""

    PASSWORD = "password"  # noqa: S105 (a session kind, not a secret)
    REMEMBERED = "remembered"
    MAGIC_LINK = "magic_link"
    EMAIL_CONFIRMATION = "email_confirmation"
    PASSKEY = "passkey"
    """A passkey with user verification: both factors at once, so it counts for sudo like a password."""
    OAUTH = "oauth"
    """Through an identity provider: the provider vouches for one factor, so it never counts for sudo [67]."""
    IMPERSONATION = "impersonation"
    """An administrator signed in as the user (`impersonation`): never sudo, at most 30 minutes [75]."""


PRESENTS_CREDENTIALS = frozenset({SessionKind.PASSWORD, SessionKind.PASSKEY})
"""Sessions whose sign-in counts as a fresh re-authentication (sudo) [28]."""


@dataclass(frozen=True)
class NewSession:
    """A session to store: the raw token goes into the cookie, only `token_hash` into the database."""

    token: str
    token_hash: bytes
    kind: SessionKind
    started_at: datetime
    expires_at: datetime
    authenticated_at: datetime | None


@dataclass(frozen=True)
class SessionTimes:
    """The timestamps of a stored session that the timeouts are computed from."""

    last_seen_at: datetime
    expires_at: datetime
    authenticated_at: datetime | None


def start_session(kind: SessionKind, *, clock: Clock, policy: SecurityPolicy) -> NewSession:
    """Mint a session. Only a password sign-in counts as presenting credentials (for sudo)."""
    now = clock.now()
    token = new_token(policy.session_token_bytes)
    return NewSession(
        token=token,
        token_hash=token_digest(token),
        kind=kind,
        started_at=now,
        expires_at=now + policy.session_absolute_timeout,
        authenticated_at=now if kind in PRESENTS_CREDENTIALS else None,
    )


def is_live(times: SessionTimes, now: datetime, policy: SecurityPolicy) -> bool:
    """True while neither the absolute nor the idle deadline has passed."""
    return now < times.expires_at and now < times.last_seen_at + policy.session_idle_timeout


def needs_touch(times: SessionTimes, now: datetime, policy: SecurityPolicy) -> bool:
    """Whether `last_seen_at` is stale enough to be worth a write (most requests only read)."""
    return now - times.last_seen_at >= policy.session_touch_interval


def idle_cutoff(now: datetime, policy: SecurityPolicy) -> datetime:
    """Sessions last seen before this instant are idle-expired (for queries)."""
    return now - policy.session_idle_timeout


def sudo_is_fresh(authenticated_at: datetime | None, now: datetime, policy: SecurityPolicy) -> bool:
    """True when credentials were presented in this session within the sudo window."""
    return authenticated_at is not None and now - authenticated_at < policy.sudo_window


def sudo_remaining(authenticated_at: datetime | None, now: datetime, policy: SecurityPolicy) -> timedelta:
    """Time left in the sudo window (zero when not fresh)."""
    if not sudo_is_fresh(authenticated_at, now, policy):
        return timedelta(0)
    assert authenticated_at is not None
    return policy.sudo_window - (now - authenticated_at)
