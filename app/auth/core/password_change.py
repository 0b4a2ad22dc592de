"""Changes a signed-in user makes to their own credentials."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.db import release_connection
from app.auth.core.mail_tokens import Purpose, retire_tokens
from app.auth.core.notices import notify_password_changed
from app.auth.core.remember_store import clear_remember_cookie, forget_user
from app.auth.core.session_store import (
    CurrentSession,
    end_other_sessions,
    load_account,
    mark_reauthenticated,
    revoke_user_grants,
    set_session_cookie,
)
from app.auth.core.signin import PasswordProof
from app.auth.core.toolkit import security_of


async def change_password(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    proof: PasswordProof,
    new_password: str,
    *,
    sign_out_others: bool,
) -> None:
    """Set a new password; `proof` (from `verify_current_password`) shows the current one was typed [7].

    Every remember-me token goes [26], and every API JWT grant [79]: a browser that should stay signed in keeps its session,
    not a credential that outlives the password. Reset links die too [36].
    """
    security = security_of(request)
    current: CurrentSession = request.auth
    user = proof.user
    await release_connection(db)  # hashing is slow: hold no pool connection through it
    user.password_hash = await security.hasher.hash(new_password)
    user.password_changed_at = security.clock.now()
    ended = await end_other_sessions(db, user.id, keep=current.id) if sign_out_others else 0
    await revoke_user_grants(db, user.id)  # API JWTs end with the old password, in any case [79]
    await forget_user(db, user.id)
    clear_remember_cookie(response, security)
    # Pending links die with the old password: resets, sign-in links, and a pending email change.
    await retire_tokens(
        db, security, user.id, Purpose.RESET_PASSWORD, Purpose.MAGIC_LINK, Purpose.CHANGE_EMAIL
    )
    # A credential change is a privilege change: this browser continues under a new session token [18].
    rotated = await mark_reauthenticated(db, current, security)
    set_session_cookie(response, rotated.token, security)
    notify_password_changed(db, request, user, how="changed")
    await audit(db, request, "account.password.changed", user_id=user.id, others_signed_out=ended)


async def set_first_password(db: AsyncSession, request: Request[Any, Any, Any], new_password: str) -> bool:
    """Give an account without a password its first one; False (nothing changed) when it has one.

    An account has no password after its address was confirmed from a browser other than the one
    that registered (the registering browser's choice is discarded [34]). The signed-in owner of
    the proven mailbox chooses one here.
    """
    security = security_of(request)
    user = await load_account(db, security, request.user)
    if user.password_hash is not None:
        return False
    await release_connection(db)  # hashing is slow: hold no pool connection through it
    user.password_hash = await security.hasher.hash(new_password)
    user.password_changed_at = security.clock.now()
    await audit(db, request, "account.password.chosen", user_id=user.id)
    return True
