"""What an administrator may do to someone else's account, and what each action takes with it [74].

Every action here is a security decision, so it is core: the admin pages only call these.

- **Lock sign-in** (`lock_sign_in`): no way of signing in works (password, link, passkey,
  provider, remember-me; see `UserSecurityColumns.can_sign_in`), and every open session, remembered
  browser and half-finished sign-in ends, so a lock also throws out whoever is in. The password,
  factors and trusted browsers are kept: unlocking gives the owner their account back as it was.
- **Disable** (`disable_account`): the account is off (`is_active`): nothing signs in, no mail
  is sent to it; sessions, remember-me, trusted browsers, pending sign-ins, its personal API
  tokens and its unused mailed links all end (`revoke_access`, shared with account deletion [23];
  a locked account's tokens are refused while the lock lasts).
- **Reset two-factor** (`reset_second_factor`): for an owner who lost their authenticator: the
  app and backup codes are removed, browsers are no longer trusted, every session ends; the owner
  is mailed. Passkeys stay (the owner removes those themselves).
- **Sessions** (`end_user_session`, `end_user_sessions`): sign one browser, or every browser, out.

An administrator never sets or sees a password: the console can only mail a reset link. None of
these actions may be aimed at an administrator (revoke their rights from the command line first)
or at oneself. Each is audited with the administrator as actor, the user as target and, for the
destructive ones, the typed reason.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import backup_codes, totp
from app.auth.core.api_tokens import revoke_user_tokens
from app.auth.core.audit_log import audit
from app.auth.core.mail_tokens import Purpose, retire_tokens
from app.auth.core.models import AuthSession, PendingLogin, UserSecurityColumns
from app.auth.core.notices import notify_mfa_changed
from app.auth.core.platform_admin import admin_of
from app.auth.core.remember_store import forget_user
from app.auth.core.second_factor import forget_trusted_browsers
from app.auth.core.session_store import end_session, revoke_user_grants
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "AccountActionError",
    "admin_target",
    "disable_account",
    "enable_account",
    "end_user_session",
    "end_user_sessions",
    "lock_sign_in",
    "reason_text",
    "reset_second_factor",
    "revoke_access",
    "unlock_sign_in",
)


class AccountActionError(Exception):
    """The action may not be done to this account; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def admin_target(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID
) -> UserSecurityColumns:
    """The account to act on, refusing oneself and other administrators."""
    user = await db.get(security_of(request).users, user_id, with_for_update=True)
    if user is None:
        raise AccountActionError("no_such_user")
    if user.id == request.user.id:
        raise AccountActionError("self")
    if await admin_of(db, user.id) is not None:
        raise AccountActionError("target_is_admin")
    return user


async def _sign_out_everywhere(db: AsyncSession, user_id: UUID) -> None:
    """End every session (impersonations too), remembered browser and pending sign-in of the user."""
    await db.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    await db.execute(delete(PendingLogin).where(PendingLogin.user_id == user_id))
    await forget_user(db, user_id)
    await revoke_user_grants(db, user_id)  # API JWTs are sign-ins too [79]


async def revoke_access(db: AsyncSession, security: Security, user_id: UUID) -> None:
    """Take every way in away from the account [23]: sessions, remember-me, trusted browsers, pending
    sign-ins, personal API tokens, and unused mailed links (reset, sign-in, confirmation, change)."""
    await _sign_out_everywhere(db, user_id)
    await forget_trusted_browsers(db, user_id)
    await revoke_user_tokens(db, user_id, security.clock.now())  # [73]
    await retire_tokens(db, security, user_id, *Purpose)


def reason_text(reason: str) -> str:
    """The typed reason, tidied; refused when too short to mean anything."""
    text = " ".join(reason.split())[:500]
    if len(text) < 3:
        raise AccountActionError("reason_required")
    return text


async def lock_sign_in(db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, reason: str) -> None:
    """Stop every way of signing in, and throw out the browsers that are in."""
    why = reason_text(reason)
    user = await admin_target(db, request, user_id)
    user.sign_in_locked_at = security_of(request).clock.now()
    await _sign_out_everywhere(db, user.id)
    await audit(db, request, "admin.user.locked", actor_id=request.user.id, user_id=user.id, reason=why)


async def unlock_sign_in(db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID) -> None:
    """Let the account sign in again."""
    user = await admin_target(db, request, user_id)
    user.sign_in_locked_at = None
    await audit(db, request, "admin.user.unlocked", actor_id=request.user.id, user_id=user.id)


async def disable_account(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, reason: str
) -> None:
    """Turn the account off: sessions, remember-me, trusted browsers and pending sign-ins end."""
    why = reason_text(reason)
    user = await admin_target(db, request, user_id)
    user.is_active = False
    await revoke_access(db, security_of(request), user.id)
    await audit(db, request, "admin.user.disabled", actor_id=request.user.id, user_id=user.id, reason=why)


async def enable_account(db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID) -> None:
    """Turn the account back on (its owner signs in again; nothing else comes back)."""
    user = await admin_target(db, request, user_id)
    user.is_active = True
    await audit(db, request, "admin.user.enabled", actor_id=request.user.id, user_id=user.id)


async def reset_second_factor(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, reason: str
) -> None:
    """Remove the authenticator app and backup codes, untrust browsers, sign out everywhere; mail the owner."""
    why = reason_text(reason)
    user = await admin_target(db, request, user_id)
    await totp.remove_totp(db, user.id)
    await backup_codes.remove_codes(db, user.id)
    await forget_trusted_browsers(db, user.id)
    await _sign_out_everywhere(db, user.id)
    notify_mfa_changed(db, request, user, "reset_by_support")
    await audit(
        db, request, "admin.user.second_factor_reset", actor_id=request.user.id, user_id=user.id, reason=why
    )


async def end_user_session(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, session_id: UUID
) -> bool:
    """Sign one of the user's browsers out. True if it was theirs and still open."""
    ended = await end_session(db, session_id, user_id=user_id)
    if ended:
        await audit(
            db, request, "admin.user.session_revoked", actor_id=request.user.id, user_id=user_id,
            session=str(session_id),
        )  # fmt: skip
    return ended


async def end_user_sessions(db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID) -> None:
    """Sign every browser of the user out, remembered ones included."""
    await _sign_out_everywhere(db, user_id)
    await audit(db, request, "admin.user.sessions_revoked", actor_id=request.user.id, user_id=user_id)
