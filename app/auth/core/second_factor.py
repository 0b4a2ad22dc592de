"""The second step of signing in: the pre-session, trusted browsers, and checking the answer.

Every way of presenting a first factor (a password, a mailed link or code, a remember-me cookie,
an address confirmation) ends in `continue_sign_in`. For an account with an authenticator app or
a passkey it does not start a session: it stores a *pre-session* [16] and sends the browser to the
second step. A pre-session is not a session; the middleware never turns it into a signed-in user,
so it opens no page but the second step. It lives 10 minutes, is used once, and survives 5 wrong
answers before the password must be typed again; 10 wrong answers in a row on one account, across
attempts, lock second-factor sign-in for 15 minutes and mail the owner [49]. A browser the user
chose to trust (for that user only) skips the step for 30 days [27]. A passkey sign-in proves both
factors at once and never passes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Request, Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import backup_codes, totp
from app.auth.core.audit_log import audit
from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.models import (
    BackupCode,
    PendingLogin,
    TotpCredential,
    TrustedBrowser,
    UserSecurityColumns,
    WebAuthnCredential,
)
from app.auth.core.notices import notice_context
from app.auth.core.session_store import begin_session, set_session_cookie
from app.auth.core.sessions import SessionKind
from app.auth.core.signin import sign_user_in
from app.auth.core.tokens import new_token, token_digest
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "Factors",
    "SecondFactorProblem",
    "browser_is_trusted",
    "cancel_pending",
    "check_second_factor",
    "continue_sign_in",
    "factors_of",
    "finish_pending",
    "forget_trusted_browsers",
    "has_pre_session",
    "list_trusted_browsers",
    "load_pending",
    "revoke_trusted_browser",
    "start_pending",
    "trust_this_browser",
)

Redirect = Callable[[str], Response[Any]]
"""Makes the host's redirect response (a 303, or `HX-Redirect` for htmx) to a path."""


@dataclass(frozen=True)
class Factors:
    """What protects an account besides its password."""

    totp: bool
    passkeys: int
    backup_codes: int
    """Unused backup codes."""

    @property
    def required(self) -> bool:
        """Whether signing in needs a second factor: an authenticator app or a passkey is set up."""
        return self.totp or self.passkeys > 0


async def factors_of(db: AsyncSession, user_id: UUID) -> Factors:
    """The user's second factors, in one statement."""
    has_totp = (
        select(TotpCredential.id)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
        .exists()
    )
    passkeys = select(func.count(WebAuthnCredential.id)).where(WebAuthnCredential.user_id == user_id)
    codes = select(func.count(BackupCode.id)).where(
        BackupCode.user_id == user_id, BackupCode.used_at.is_(None)
    )
    row = (await db.execute(select(has_totp, passkeys.scalar_subquery(), codes.scalar_subquery()))).one()
    return Factors(totp=bool(row[0]), passkeys=int(row[1]), backup_codes=int(row[2]))


# --- trusted browsers [27]


async def browser_is_trusted(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, security: Security
) -> bool:
    """Whether this browser's trust cookie was issued to `user_id` and is still live (it is touched)."""
    value = request.cookies.get(security.cookies.trusted, "")
    if not value or len(value) > 100:
        return False
    now = security.clock.now()
    touched = await db.execute(
        update(TrustedBrowser)
        .where(
            TrustedBrowser.token_hash == token_digest(value),
            TrustedBrowser.user_id == user_id,
            TrustedBrowser.expires_at > now,
        )
        .values(last_used_at=now)
        .returning(TrustedBrowser.id)
        .execution_options(synchronize_session=False)
    )
    return touched.first() is not None


async def trust_this_browser(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    user_id: UUID,
    security: Security,
) -> None:
    """Let this browser skip the second factor for this user for `trusted_device_lifetime`."""
    token = new_token()
    now = security.clock.now()
    db.add(
        TrustedBrowser(
            token_hash=token_digest(token),
            user_id=user_id,
            device_label=security.adapter.device_label(request.headers.get("user-agent", "")),
            last_used_at=now,
            expires_at=now + security.policy.trusted_device_lifetime,
        )
    )
    lifetime = int(security.policy.trusted_device_lifetime.total_seconds())
    set_cookie(response, security.cookies.trusted, token, secure=security.secure_cookies, max_age=lifetime)


async def list_trusted_browsers(db: AsyncSession, user_id: UUID, security: Security) -> list[TrustedBrowser]:
    """The user's live trusted browsers, most recently used first."""
    query = (
        select(TrustedBrowser)
        .where(TrustedBrowser.user_id == user_id, TrustedBrowser.expires_at > security.clock.now())
        .order_by(TrustedBrowser.last_used_at.desc().nulls_last(), TrustedBrowser.created_at.desc())
    )
    return list((await db.scalars(query)).all())


async def revoke_trusted_browser(db: AsyncSession, user_id: UUID, browser_id: UUID) -> bool:
    """Stop trusting one browser of the user. True if it was theirs."""
    removed = await db.execute(
        delete(TrustedBrowser)
        .where(TrustedBrowser.id == browser_id, TrustedBrowser.user_id == user_id)
        .returning(TrustedBrowser.id)
    )
    return removed.first() is not None


async def forget_trusted_browsers(db: AsyncSession, user_id: UUID) -> int:
    """Stop trusting every browser of the user (password reset, MFA change, sign out everywhere)."""
    removed = await db.execute(
        delete(TrustedBrowser).where(TrustedBrowser.user_id == user_id).returning(TrustedBrowser.id)
    )
    return len(removed.all())


# --- the pre-session [16]


def has_pre_session(request: Request[Any, Any, Any]) -> bool:
    """Whether this browser carries a pre-session cookie (not checked: the second step does that)."""
    security = security_of(request)
    return bool(request.cookies.get(security.cookies.pre_session)) or bool(request.scope.get("pre_session"))


async def start_pending(
    db: AsyncSession,
    security: Security,
    user_id: UUID,
    *,
    method: SessionKind,
    remember: bool = False,
    remember_token_id: UUID | None = None,
    next_url: str = "",
    restore_step: str = "",
) -> str:
    """Store a pre-session; the token for its cookie (see `pre_session_cookie`)."""
    token = new_token()
    db.add(
        PendingLogin(
            token_hash=token_digest(token),
            user_id=user_id,
            method=method.value,
            remember=remember,
            remember_token_id=remember_token_id,
            next_url=next_url[:2048],
            restore_step=restore_step,
            expires_at=security.clock.now() + security.policy.pending_login_ttl,
        )
    )
    await db.flush()
    return token


def set_pre_session_cookie(response: Response[Any], token: str, security: Security) -> None:
    """The pre-session cookie; it dies with the pre-session."""
    set_cookie(
        response,
        security.cookies.pre_session,
        token,
        secure=security.secure_cookies,
        max_age=int(security.policy.pending_login_ttl.total_seconds()),
    )


def clear_pre_session_cookie(response: Response[Any], security: Security) -> None:
    """Drop the pre-session cookie."""
    expire_cookie(response, security.cookies.pre_session, secure=security.secure_cookies)


async def load_pending(
    db: AsyncSession, request: Request[Any, Any, Any], *, lock: bool = False
) -> PendingLogin | None:
    """This browser's live pre-session (locked for the answer when `lock`); an expired one is deleted."""
    security = security_of(request)
    value = request.cookies.get(security.cookies.pre_session, "")
    if not value or len(value) > 100:
        return None
    query = select(PendingLogin).where(PendingLogin.token_hash == token_digest(value))
    pending = await db.scalar(query.with_for_update() if lock else query)
    if pending is None:
        return None
    if security.clock.now() >= pending.expires_at:
        await db.delete(pending)
        await db.commit()
        return None
    return pending


async def cancel_pending(db: AsyncSession, request: Request[Any, Any, Any], response: Response[Any]) -> None:
    """Give up on the second step: the pre-session is deleted and its cookie dropped."""
    security = security_of(request)
    value = request.cookies.get(security.cookies.pre_session, "")
    if value and len(value) <= 100:
        await db.execute(delete(PendingLogin).where(PendingLogin.token_hash == token_digest(value)))
    clear_pre_session_cookie(response, security)


async def continue_sign_in(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    *,
    kind: SessionKind,
    redirect: Redirect,
    remember: bool = False,
    next_url: str | None = None,
) -> Response[Any]:
    """The first factor passed: start the session, or send the browser to the second step [15].

    `next_url` must already be a safe same-site path (or None for the adapter's default).
    """
    security = security_of(request)
    if user.awaits_purge:
        return await _offer_restore(db, request, user, kind=kind, redirect=redirect, remember=remember)
    if kind is not SessionKind.PASSKEY:
        factors = await factors_of(db, user.id)
        if factors.required and not await browser_is_trusted(db, request, user.id, security):
            token = await start_pending(
                db, security, user.id, method=kind, remember=remember, next_url=next_url or ""
            )
            response = redirect(security.adapter.page_path("two_factor"))
            set_pre_session_cookie(response, token, security)
            await audit(db, request, "auth.login.second_factor_required", user_id=user.id, method=kind.value)
            return response
    response = redirect(next_url or security.adapter.login_redirect_url(request, user))
    await sign_user_in(db, request, response, user, kind=kind, remember=remember)
    return response


RESTORE_PAGE = "restore_account"
"""The named page (`AccountAdapter.PAGES`) that offers to restore a deleted account."""


async def _offer_restore(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    *,
    kind: SessionKind,
    redirect: Redirect,
    remember: bool,
) -> Response[Any]:
    """A deleted account's owner passed the first factor: no session, but a pre-session that leads,
    after the second factor if the account has one, to the offer to restore it (`account_deletion`).

    Trusted browsers were forgotten at the deletion, so the second factor is always asked.
    """
    security = security_of(request)
    if not user.owner_may_restore:
        raise PermissionError("only its owner's sign-in may restore a deleted account")
    owes_factor = kind is not SessionKind.PASSKEY and (await factors_of(db, user.id)).required
    token = await start_pending(
        db, security, user.id, method=kind, remember=remember,
        next_url=security.adapter.page_path(RESTORE_PAGE), restore_step="factor" if owes_factor else "ready",
    )  # fmt: skip
    response = redirect(security.adapter.page_path("two_factor" if owes_factor else RESTORE_PAGE))
    set_pre_session_cookie(response, token, security)
    await audit(db, request, "account.restore.offered", user_id=user.id, method=kind.value)
    return response


# --- the answer


@dataclass(frozen=True)
class SecondFactorProblem:
    """Why an answer was refused: `wrong` (tries left), `restart` (sign in again), `locked` (wait)."""

    kind: Literal["wrong", "restart", "locked"]
    tries_left: int = 0
    retry_after: int = 0


@dataclass(frozen=True)
class SecondFactorOk:
    """The answer was right; `method` is `totp` or `backup_code` (with the codes left)."""

    method: Literal["totp", "backup_code", "passkey"]
    backup_codes_left: int | None = None


def _locked_for(user: UserSecurityColumns, now: datetime) -> int:
    """Seconds left of the user's MFA lock (0 when not locked)."""
    if user.mfa_locked_until is None or user.mfa_locked_until <= now:
        return 0
    return max(1, int((user.mfa_locked_until - now).total_seconds()))


async def check_second_factor(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, typed: str, *, context: str
) -> SecondFactorOk | SecondFactorProblem:
    """Check a typed authenticator code or backup code for `user`, counting failures [48]-[52].

    `context` names the audit event (`login` or `sudo`). Used by the second sign-in step and by
    sudo; the failure count is committed even though the request fails. The lock is checked
    before the code, so a right code does not work while the account is locked.
    """
    security = security_of(request)
    now = security.clock.now()
    wait = _locked_for(user, now)
    if wait:
        await audit(db, request, f"auth.{context}.mfa_locked_out", outcome="failure", user_id=user.id)
        await db.commit()
        return SecondFactorProblem("locked", retry_after=wait)
    if backup_codes.normalize(typed) is not None:
        if await backup_codes.spend_code(db, security, user.id, typed):
            left = await backup_codes.count_unused(db, user.id)
            await _succeeded(db, request, user, "backup_code", context)
            security.adapter.send_mail(
                db,
                to=user.email,
                template="backup_code_used",
                context=notice_context(request, security, remaining=left),
            )
            return SecondFactorOk("backup_code", backup_codes_left=left)
    elif await totp.accept_code(db, security, user.id, typed):
        await _succeeded(db, request, user, "totp", context)
        return SecondFactorOk("totp")
    return await _failed(db, request, user, context)


async def _succeeded(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, method: str, context: str
) -> None:
    user.mfa_failures = 0
    await audit(db, request, f"auth.{context}.second_factor_passed", user_id=user.id, method=method)


async def _failed(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, context: str
) -> SecondFactorProblem:
    security = security_of(request)
    policy = security.policy
    user.mfa_failures += 1
    await audit(db, request, f"auth.{context}.second_factor_failed", outcome="failure", user_id=user.id)
    if user.mfa_failures >= policy.mfa_max_failures:
        user.mfa_failures = 0
        user.mfa_locked_until = security.clock.now() + policy.mfa_lock_duration
        await audit(db, request, "auth.mfa.locked", outcome="failure", user_id=user.id)
        security.adapter.send_mail(
            db,
            to=user.email,
            template="mfa_locked",
            context=notice_context(request, security, lock_duration=policy.mfa_lock_duration),
        )
        await db.commit()
        return SecondFactorProblem("locked", retry_after=int(policy.mfa_lock_duration.total_seconds()))
    await db.commit()
    return SecondFactorProblem("wrong")


async def answer_pending(
    db: AsyncSession, request: Request[Any, Any, Any], pending: PendingLogin, typed: str
) -> tuple[UserSecurityColumns, SecondFactorOk | SecondFactorProblem]:
    """Check the answer typed at the second step; the pre-session counts its own wrong tries.

    `pending` must have been loaded with `lock=True`, so two answers to one pre-session are taken
    one after the other (and a second right answer finds the pre-session gone).
    """
    security = security_of(request)
    user = await db.get_one(security.users, pending.user_id, with_for_update=True)
    result = await check_second_factor(db, request, user, typed, context="login")
    if isinstance(result, SecondFactorProblem) and result.kind == "wrong":
        failures = await db.scalar(
            update(PendingLogin)
            .where(PendingLogin.id == pending.id)
            .values(failures=PendingLogin.failures + 1)
            .returning(PendingLogin.failures)
            .execution_options(synchronize_session=False)
        )
        left = security.policy.mfa_attempt_max_failures - int(failures or 0)
        if left <= 0:
            await db.execute(delete(PendingLogin).where(PendingLogin.id == pending.id))
            result = SecondFactorProblem("restart")
        else:
            result = SecondFactorProblem("wrong", tries_left=left)
        await db.commit()
    elif isinstance(result, SecondFactorProblem) and result.kind == "locked":
        await db.execute(delete(PendingLogin).where(PendingLogin.id == pending.id))
        await db.commit()
    return user, result


async def finish_pending(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    pending: PendingLogin,
    user: UserSecurityColumns,
    *,
    trust_browser: bool,
) -> None:
    """The second factor passed: the pre-session is spent and the session starts [18].

    For a deleted account it is not: the pre-session becomes the offer to restore (its `next_url`,
    where the caller redirects, is the offer page), and no session starts until that is accepted.
    """
    security = security_of(request)
    if pending.restore_step:
        pending.restore_step = "ready"
        await db.flush()
        return
    await db.execute(delete(PendingLogin).where(PendingLogin.id == pending.id))
    clear_pre_session_cookie(response, security)
    kind = SessionKind(pending.method)
    if pending.remember_token_id is not None:
        # A remember-me restore: its token was already rotated; the session joins it.
        new = await begin_session(
            db, request, user, kind, security, remember_token_id=pending.remember_token_id
        )
        set_session_cookie(response, new.token, security)
        await audit(db, request, "auth.login.succeeded", user_id=user.id, method=kind.value, remember=True)
    else:
        await sign_user_in(db, request, response, user, kind=kind, remember=pending.remember)
    if trust_browser:
        await trust_this_browser(db, request, response, user.id, security)
        await audit(db, request, "auth.mfa.browser_trusted", user_id=user.id)
