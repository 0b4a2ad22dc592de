"""Password reset: ask for a link by mail, then set a new password with it [35]-[40].

Asking looks the same whether or not the address has an account, and changes nothing about the
account: the old password keeps working until the link is used. The link works once, for an hour,
and only the newest one works. Using it sets the password and then treats every open door as
suspect: all sessions and remember-me tokens end, pending mailed tokens die, and the user signs in
again with the new password (a reset never signs anyone in). Because using the link proves the
mailbox, it also confirms an unconfirmed address, unlocks an address that hit the sign-in
throttle's hard cap, and gets rid of a password a stranger may have left on the account.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.db import release_connection
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.mail_tokens import Purpose, find_live_token, issue_email_token, retire_tokens, spend_token
from app.auth.core.models import UserSecurityColumns
from app.auth.core.notices import notify_password_changed
from app.auth.core.registration import may_mail
from app.auth.core.remember_store import forget_user
from app.auth.core.second_factor import forget_trusted_browsers
from app.auth.core.session_store import end_all_sessions
from app.auth.core.toolkit import security_of


async def request_reset(db: AsyncSession, request: Request[Any, Any, Any], email: str) -> None:
    """Mail a reset link if the address has an active account; do the same visible work either way."""
    security = security_of(request)
    try:
        canonical = canonical_email(email)
    except InvalidEmail:
        return
    # Count the request against the limits before looking the address up, so the limits
    # themselves cannot tell a known address from an unknown one.
    if not await may_mail(request, canonical):
        return
    user = await db.scalar(select(security.users).where(security.users.email_canonical == canonical))
    if user is None or not user.is_active:
        return
    issued = await issue_email_token(
        db, security, user=user, purpose=Purpose.RESET_PASSWORD, email=user.email
    )
    link = security.link("reset_password", issued.token)
    security.adapter.send_mail(
        db,
        to=user.email,
        template="reset_password",
        context={"link": link, "lifetime": security.policy.password_reset_ttl},
    )
    await audit(db, request, "auth.password_reset.requested", user_id=user.id)


async def complete_reset(
    db: AsyncSession, request: Request[Any, Any, Any], token: str, new_password: str
) -> UserSecurityColumns | None:
    """Spend the link and set the password; None when the link is unknown, used, expired or stale."""
    security = security_of(request)
    if await find_live_token(db, security, token, Purpose.RESET_PASSWORD) is None:
        return None
    # Hash before spending, with the connection back in the pool: hashing is slow, and a request
    # holding a connection through it starves the others.
    await release_connection(db)
    new_hash = await security.hasher.hash(new_password)
    spent = await spend_token(db, security, token, Purpose.RESET_PASSWORD)
    if spent is None:
        return None
    user = await db.get(security.users, spent.user_id)
    if user is None or not user.is_active or spent.email != user.email:
        return None  # the account was disabled, or its address changed since the link was sent
    now = security.clock.now()
    user.password_hash = new_hash
    user.password_changed_at = now
    user.confirmed_at = user.confirmed_at or now  # the link proves the mailbox
    await end_all_sessions(db, user.id)
    await forget_user(db, user.id)
    await forget_trusted_browsers(db, user.id)  # the second factor is asked again everywhere [27][40]
    await retire_tokens(db, security, user.id, *Purpose)
    await request.app.state.throttles.clear(db, user.email_canonical)
    notify_password_changed(db, request, user, how="reset")
    await audit(db, request, "auth.password_reset.completed", user_id=user.id)
    return user
