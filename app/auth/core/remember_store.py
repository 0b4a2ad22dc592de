"""Remember-me rows and cookie: issue on sign-in, restore a session, rotate, detect theft, revoke.

The rules are in `remember`; this module stores tokens and sets the cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from litestar import Response
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.models import AuthSession, RememberToken, UserSecurityColumns
from app.auth.core.remember import (
    RememberVerdict,
    StoredRememberToken,
    issue_remember_token,
    judge,
    rotated_validator,
)
from app.auth.core.sessions import SessionKind
from app.auth.core.tokens import split_selector_validator
from app.auth.core.toolkit import Security

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Restored:
    """Outcome of presenting a remember-me cookie."""

    user: UserSecurityColumns | None
    """The user to start a session for; None when the cookie is refused."""
    token_id: UUID | None
    """The remember-me token that vouched (linked to the new session)."""
    new_cookie: str | None
    """The rotated cookie value to send back (None: keep or drop the current one)."""
    verdict: RememberVerdict | None
    """What the core decided (None when the cookie was malformed or unknown)."""
    owner_id: UUID | None = None
    """Whose token the cookie named (set whenever the selector was known, theft included)."""


async def remember_user(
    db: AsyncSession, user: UserSecurityColumns, device_label: str, security: Security
) -> tuple[UUID, str]:
    """Store a new remember-me token for `user`; its id and the cookie value to set."""
    token = issue_remember_token(clock=security.clock, policy=security.policy)
    row = RememberToken(
        selector=token.selector,
        validator_hash=token.validator_hash,
        user_id=user.id,
        expires_at=token.expires_at,
        device_label=device_label,
    )
    db.add(row)
    await db.flush()
    return row.id, token.cookie_value


async def restore(db: AsyncSession, cookie: str, security: Security) -> Restored:
    """Check a remember-me cookie; rotate it when valid, revoke everything on theft."""
    parsed = split_selector_validator(cookie)
    if parsed is None:
        return Restored(None, None, None, None)
    selector, validator = parsed
    # Locked until this transaction ends: a parallel restore of the same cookie (two tabs) waits,
    # then reads the rotated row and gets RACE. Unlocked, both would read the old validator, both
    # rotate, and the browser could keep the cookie whose validator the database forgot: theft.
    row = (
        await db.execute(
            select(RememberToken, security.users)
            .join(security.users, security.users.id == RememberToken.user_id)
            .where(RememberToken.selector == selector)
            .with_for_update(of=RememberToken)
        )
    ).first()
    if row is None:
        return Restored(None, None, None, None)
    token, user = row
    now = security.clock.now()
    stored = StoredRememberToken(
        token.validator_hash, token.previous_validator_hash, token.rotated_at, token.expires_at
    )
    verdict = judge(stored, validator, now, security.policy)
    if verdict is RememberVerdict.EXPIRED or not user.can_sign_in:
        await db.execute(delete(RememberToken).where(RememberToken.id == token.id))
        return Restored(None, None, None, verdict, user.id)
    if verdict is RememberVerdict.THEFT:
        # An old validator: either the owner or a thief used a copy first. End every remembered
        # browser and every session they restored; the owner signs in again with the password.
        log.warning("auth.remember.reuse_detected", user_id=str(user.id))
        await db.execute(
            delete(AuthSession).where(
                AuthSession.user_id == user.id, AuthSession.kind == SessionKind.REMEMBERED.value
            )
        )
        await forget_user(db, user.id)
        return Restored(None, None, None, verdict, user.id)
    if verdict is RememberVerdict.RACE:
        return Restored(user, token.id, None, verdict)
    new_cookie, new_hash = rotated_validator(selector)
    await db.execute(
        update(RememberToken)
        .where(RememberToken.id == token.id)
        .values(validator_hash=new_hash, previous_validator_hash=token.validator_hash, rotated_at=now)
    )
    return Restored(user, token.id, new_cookie, verdict)


async def forget_user(db: AsyncSession, user_id: UUID) -> None:
    """Revoke every remember-me token of the user (logout everywhere, password change, theft)."""
    await db.execute(delete(RememberToken).where(RememberToken.user_id == user_id))


async def forget_cookie(db: AsyncSession, cookie: str | None) -> None:
    """Revoke the token behind one cookie (sign-out on this device)."""
    parsed = split_selector_validator(cookie or "")
    if parsed is not None:
        await db.execute(delete(RememberToken).where(RememberToken.selector == parsed[0]))


def set_remember_cookie(response: Response[Any], value: str, security: Security) -> None:
    """The remember-me cookie: persistent for the remember-me lifetime, HttpOnly."""
    max_age = int(security.policy.remember_me_lifetime.total_seconds())
    set_cookie(response, security.cookies.remember, value, secure=security.secure_cookies, max_age=max_age)


def clear_remember_cookie(response: Response[Any], security: Security) -> None:
    """Remove the remember-me cookie from the browser."""
    expire_cookie(response, security.cookies.remember, secure=security.secure_cookies)
