"""Turning second factors on and off: the authenticator app and backup codes [24][50][51][53].

Routes guard these with `requires_sudo`; the flows add what a fresh sudo window alone does not
prove. Every change is audited, mailed to the owner, signs the account's other browsers out and
forgets every trusted browser [24][27] (`_after_change`), because whoever set up or removed a
factor elsewhere should not keep a way in.

- Enrolment activates the new secret only after a valid code from it, and shows a fresh set of
  backup codes once.
- Disabling needs a current code (or a backup code) in the same request, even inside the sudo
  window: a session that only proved the password, e.g. a remembered browser, cannot remove the
  second factor [53].
- Regenerating backup codes replaces the whole set.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import backup_codes, totp
from app.auth.core.audit_log import audit
from app.auth.core.notices import notify_mfa_changed
from app.auth.core.second_factor import SecondFactorProblem, check_second_factor, factors_of
from app.auth.core.session_store import end_other_sessions, load_account
from app.auth.core.toolkit import security_of

__all__ = (
    "NoSecondFactorError",
    "disable_totp",
    "finish_totp_enrolment",
    "regenerate_backup_codes",
    "start_totp_enrolment",
)


class NoSecondFactorError(Exception):
    """Backup codes back up a second factor; the account has none."""


async def start_totp_enrolment(db: AsyncSession, request: Request[Any, Any, Any]) -> totp.Enrolment:
    """A new unconfirmed secret for the signed-in user (shown once on the next page)."""
    security = security_of(request)
    enrolment = await totp.begin_enrolment(db, security, request.user.id, request.user.email)
    await audit(db, request, "auth.mfa.totp_enrolment_started", user_id=request.user.id)
    return enrolment


async def finish_totp_enrolment(
    db: AsyncSession, request: Request[Any, Any, Any], typed: str
) -> list[str] | None:
    """Activate the secret if `typed` is a valid code from it; the new backup codes, or None."""
    security = security_of(request)
    user_id = request.user.id
    if not await totp.confirm_enrolment(db, security, user_id, typed):
        await audit(db, request, "auth.mfa.totp_enrolment_failed", outcome="failure", user_id=user_id)
        return None
    codes = await backup_codes.generate_codes(db, security, user_id)
    await audit(db, request, "auth.mfa.totp_enabled", user_id=user_id)
    await _after_change(db, request, "totp_enabled")
    return codes


async def disable_totp(
    db: AsyncSession, request: Request[Any, Any, Any], typed: str
) -> SecondFactorProblem | None:
    """Remove the authenticator app (and backup codes, unless a passkey still needs them).

    `typed` must be a current code or an unused backup code; None when the app was removed.
    """
    security = security_of(request)
    user = await load_account(db, security, request.user)
    result = await check_second_factor(db, request, user, typed, context="sudo")
    if isinstance(result, SecondFactorProblem):
        return result
    await totp.remove_totp(db, user.id)
    if not (await factors_of(db, user.id)).passkeys:
        await backup_codes.remove_codes(db, user.id)
    await audit(db, request, "auth.mfa.totp_disabled", user_id=user.id)
    await _after_change(db, request, "totp_disabled")
    return None


async def regenerate_backup_codes(db: AsyncSession, request: Request[Any, Any, Any]) -> list[str]:
    """A new set of backup codes; the old ones stop working. Only for an account with a second factor."""
    security = security_of(request)
    if not (await factors_of(db, request.user.id)).required:
        raise NoSecondFactorError()
    codes = await backup_codes.generate_codes(db, security, request.user.id)
    await audit(db, request, "auth.mfa.backup_codes_regenerated", user_id=request.user.id)
    await _after_change(db, request, "backup_codes_regenerated", sign_out_others=False)
    return codes


async def _after_change(
    db: AsyncSession, request: Request[Any, Any, Any], change: str, *, sign_out_others: bool = True
) -> None:
    """Sign the other browsers out and forget trusted browsers [24][27]; mail the owner."""
    security = security_of(request)
    if sign_out_others:
        await end_other_sessions(db, request.user.id, keep=request.auth.id, forget_trusted_browsers=True)
    user = await load_account(db, security, request.user)
    notify_mfa_changed(db, request, user, change, others_signed_out=sign_out_others)
