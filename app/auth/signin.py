"""Signing in, as a pipeline of stages: identify → throttle → first factor → second factor → session.

Every failure looks the same from outside (requirement 10): an unknown address, a wrong password,
an unconfirmed or disabled account all cost exactly one password-hash verification (against a
dummy hash when there is no real one, requirement 9) and produce the same `InvalidCredentialsError`. Failures
are counted per address, known or not, and after the free ones each attempt must wait longer
(`ThrottledError`, requirements 11-12); the count is kept in its own transaction so a failed request
cannot roll it back.

Second factors (TOTP, passkeys) slot in at `second_factor_for`: when it returns a challenge, the
caller stops before starting a session and sends the user to that challenge instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.throttle import decide
from app.auth.events import audit
from app.auth.models import User
from app.auth.security import Security


class InvalidCredentialsError(Exception):
    """Credentials did not check out (deliberately unspecific)."""


class ThrottledError(Exception):
    """Too many recent failures for this address: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SecondFactorChallenge:
    """Where to send a user whose first factor passed but who must present a second one."""

    url: str


def second_factor_for(user: User) -> SecondFactorChallenge | None:
    """The second-factor step for `user`; None while no second factors exist (TOTP, passkeys come later)."""
    return None


@dataclass(frozen=True)
class Identified:
    """Stage 1: the address as typed, its canonical form (None when malformed) and the account, if any."""

    canonical: str | None
    user: User | None


async def identify(db: AsyncSession, email: str) -> Identified:
    """Look the address up; a malformed one simply matches nobody."""
    try:
        canonical = canonical_email(email)
    except InvalidEmail:
        return Identified(None, None)
    user = await db.scalar(select(User).where(User.email_canonical == canonical))
    return Identified(canonical, user)


async def check_throttle(db: AsyncSession, request: Request[Any, Any, Any], who: Identified) -> None:
    """Stage 2: refuse early, before any hashing, while the address must wait."""
    if who.canonical is None:
        return
    security: Security = request.app.state.security
    state = await request.app.state.throttles.state(who.canonical)
    decision = decide(state, security.clock.now(), security.policy)
    if not decision.allowed:
        user_id = who.user.id if who.user else None
        await audit(
            db,
            request,
            "auth.login.throttled",
            outcome="failure",
            user_id=user_id,
            reset=decision.requires_reset,
        )
        await db.commit()
        raise ThrottledError(decision.retry_after)


async def check_password(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    who: Identified,
    password: str,
    *,
    failure_action: str = "auth.login.failed",
) -> User:
    """Stage 3: one hash verification whatever the case; count and record a failure."""
    security: Security = request.app.state.security
    user = who.user
    usable = user is not None and user.is_active and user.confirmed_at is not None
    stored = user.password_hash if usable and user is not None else None
    result = await security.hasher.verify(stored, password)
    if not result.ok or user is None or stored is None:
        await _record_failure(db, request, who, failure_action)
        raise InvalidCredentialsError()
    if result.needs_rehash:
        user.password_hash = await security.hasher.hash(password)
    await request.app.state.throttles.clear(who.canonical)
    return user


async def _record_failure(
    db: AsyncSession, request: Request[Any, Any, Any], who: Identified, action: str
) -> None:
    if who.canonical is not None:
        await request.app.state.throttles.record_failure(who.canonical)
    await audit(db, request, action, outcome="failure", user_id=who.user.id if who.user else None)
    await db.commit()  # the failure is recorded even though this request fails


async def authenticate(db: AsyncSession, request: Request[Any, Any, Any], email: str, password: str) -> User:
    """Stages 1-3: the user whose address and password these are, or an exception."""
    who = await identify(db, email)
    await check_throttle(db, request, who)
    return await check_password(db, request, who, password)
