"""Signing in, as a pipeline of stages: identify → throttle → first factor → second factor → session.

Every failure looks the same from outside (requirement 10): an unknown address, a wrong password,
an unconfirmed or disabled account all cost exactly one password-hash verification (against a
dummy hash when there is no real one, requirement 9) and produce the same `InvalidCredentialsError`. Failures
are counted per address, known or not, and after the free ones each attempt must wait longer
(`ThrottledError`, requirements 11-12); the count is kept in its own transaction so a failed request
cannot roll it back.

Routes do not call `sign_user_in` directly after a first factor: they call
`second_factor.continue_sign_in`, which starts the session only when the account needs no second
factor (or this browser is trusted to skip it), and otherwise opens the second step [15].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.cookies import cookie_name, expire_cookie
from app.auth.core.db import release_connection
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.mail_tokens import Purpose, retire_tokens
from app.auth.core.models import AuthSession, UserSecurityColumns
from app.auth.core.notices import notify_if_new_device
from app.auth.core.remember_store import (
    clear_remember_cookie,
    forget_cookie,
    remember_user,
    set_remember_cookie,
)
from app.auth.core.session_store import (
    CurrentSession,
    begin_session,
    clear_session_cookie,
    end_session,
    set_session_cookie,
)
from app.auth.core.sessions import SessionKind
from app.auth.core.throttle import decide
from app.auth.core.toolkit import security_of


class InvalidCredentialsError(Exception):
    """Credentials did not check out (deliberately unspecific)."""


class ThrottledError(Exception):
    """Too many recent failures for this address: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Identified:
    """Stage 1: the address as typed, its canonical form (None when malformed) and the account, if any."""

    canonical: str | None
    user: UserSecurityColumns | None


async def identify(db: AsyncSession, request: Request[Any, Any, Any], email: str) -> Identified:
    """Look the address up; a malformed one simply matches nobody."""
    try:
        canonical = canonical_email(email)
    except InvalidEmail:
        return Identified(None, None)
    users = security_of(request).users
    user = await db.scalar(select(users).where(users.email_canonical == canonical))
    return Identified(canonical, user)


async def check_throttle(db: AsyncSession, request: Request[Any, Any, Any], who: Identified) -> None:
    """Stage 2: refuse early, before any hashing, while the address must wait."""
    if who.canonical is None:
        return
    security = security_of(request)
    state = await request.app.state.throttles.state(db, who.canonical)
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
) -> UserSecurityColumns:
    """Stage 3: one hash verification whatever the case; count and record a failure."""
    security = security_of(request)
    user = who.user
    # An account its owner deleted still takes its password: the sign-in then offers to restore it
    # (after the second factor, see `second_factor.continue_sign_in`), instead of a session.
    usable = (
        user is not None and (user.can_sign_in or user.owner_may_restore) and user.confirmed_at is not None
    )
    stored = user.password_hash if usable and user is not None else None
    await release_connection(db)  # hashing is slow: hold no pool connection through it
    result = await security.hasher.verify(stored, password)
    if not result.ok or user is None or stored is None:
        await _record_failure(db, request, who, failure_action)
        raise InvalidCredentialsError()
    if result.needs_rehash:
        user.password_hash = await security.hasher.hash(password)
    await request.app.state.throttles.clear(db, who.canonical)
    return user


async def _record_failure(
    db: AsyncSession, request: Request[Any, Any, Any], who: Identified, action: str
) -> None:
    if who.canonical is not None:
        await request.app.state.throttles.record_failure(db, who.canonical)
    await audit(db, request, action, outcome="failure", user_id=who.user.id if who.user else None)
    await db.commit()  # the failure is recorded even though this request fails


async def authenticate(
    db: AsyncSession, request: Request[Any, Any, Any], email: str, password: str
) -> UserSecurityColumns:
    """Stages 1-3: the user whose address and password these are, or an exception."""
    who = await identify(db, request, email)
    await check_throttle(db, request, who)
    return await check_password(db, request, who, password)


@dataclass(frozen=True)
class PasswordProof:
    """The signed-in user just typed their current password; flows that need that take this value."""

    user: UserSecurityColumns


async def verify_current_password(
    db: AsyncSession, request: Request[Any, Any, Any], password: str, *, failure_action: str
) -> PasswordProof:
    """The signed-in user typed their password again (sudo, password change): throttled like sign-in."""
    who = await identify(db, request, request.user.email)
    await check_throttle(db, request, who)
    return PasswordProof(await check_password(db, request, who, password, failure_action=failure_action))


async def sign_user_in(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    user: UserSecurityColumns,
    *,
    kind: SessionKind,
    remember: bool = False,
) -> None:
    """Start a session for `user` (a new token, never an adopted one [18]) and set its cookies."""
    security = security_of(request)
    await notify_if_new_device(db, request, user)  # before this session makes the device known
    remember_token_id = None
    if remember:
        agent = request.headers.get("user-agent", "")
        remember_token_id, value = await remember_user(
            db, user, security.adapter.device_label(agent), security
        )
        set_remember_cookie(response, value, security)
    new = await begin_session(db, request, user, kind, security, remember_token_id=remember_token_id)
    set_session_cookie(response, new.token, security)
    # A successful sign-in means the password is known again: outstanding reset links die [36].
    await retire_tokens(db, security, user.id, Purpose.RESET_PASSWORD)
    user.last_login_at = security.clock.now()
    await audit(db, request, "auth.login.succeeded", user_id=user.id, method=kind.value, remember=remember)


async def sign_out(db: AsyncSession, request: Request[Any, Any, Any], response: Response[Any]) -> None:
    """End this session (the row is deleted), forget this browser's remember-me, clear its data [21].

    Every cookie the browser sent is expired, except the trusted-browser one (the trust belongs
    to the browser, not the session, and only ever skips the second factor [27]) and the
    preferences the adapter keeps (`AccountAdapter.KEPT_AT_SIGN_OUT`, such as the theme).
    `Clear-Site-Data` asks for the cache and storage only: its "cookies" would also wipe those
    (a cookie set on the same response is ignored, so it cannot be put back) and every cookie of
    the whole registrable domain, sibling apps on other subdomains included. Expiring by name
    reaches every cookie this app sets, since all of them are host-only with Path=/ [19].
    """
    security = security_of(request)
    current: CurrentSession | None = request.auth
    if current is not None:
        if current.impersonator_id is not None:
            # Signing out of an impersonation signs the administrator out too: their parked
            # session would otherwise linger with a token nobody holds.
            await db.execute(
                delete(AuthSession).where(
                    AuthSession.id.in_(
                        select(AuthSession.parent_session_id).where(AuthSession.id == current.id)
                    )
                )
            )
        await end_session(db, current.id)
        await audit(db, request, "auth.logout", user_id=request.user.id)
    await forget_cookie(db, request.cookies.get(security.cookies.remember))
    clear_session_cookie(response, security)
    clear_remember_cookie(response, security)
    secure = security.secure_cookies
    keep = {cookie_name(name, secure=secure) for name in security.adapter.KEPT_AT_SIGN_OUT}
    keep |= {security.cookies.trusted, security.cookies.session, security.cookies.remember}
    for name in sorted(request.cookies.keys() - keep):
        expire_cookie(response, name, secure=secure)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
