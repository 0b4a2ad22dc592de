"""Security notices: mail that tells people about changes to their account [93].

Each notice says what happened, when, from which device and address when that helps, and what to
do if it was not them. They go out through the job queue after the change commits, like all mail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.limits import client_address
from app.auth.core.models import AuditEvent, AuthSession, RememberToken, UserSecurityColumns
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "account_links",
    "is_new_device",
    "notice_context",
    "notify_email_change_requested",
    "notify_email_changed",
    "notify_if_new_device",
    "notify_mfa_changed",
    "notify_password_changed",
)


def account_links(security: Security) -> dict[str, str]:
    """Where to sign in and where to reset a password (for "was it you?" mails)."""
    return {"sign_in_link": security.link("login"), "reset_link": security.link("forgot_password")}


def notice_context(request: Request[Any, Any, Any], security: Security, **extra: Any) -> dict[str, Any]:
    """What every notice shows: when (UTC), from where, and the links to act on it."""
    return {
        "when": security.clock.now().strftime("%d %B %Y at %H:%M UTC"),
        "device": security.adapter.device_label(request.headers.get("user-agent", "")),
        "ip_address": client_address(request),
        "sessions_link": security.link("sessions"),
        "security_link": security.link("security"),
        **account_links(security),
        **extra,
    }


def notify_password_changed(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, *, how: str
) -> None:
    """ "Your password was changed" (how: `reset` or `changed`)."""
    security = security_of(request)
    context = notice_context(request, security, how=how)
    security.adapter.send_mail(db, to=user.email, template="password_changed", context=context)


def notify_mfa_changed(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    change: str,
    *,
    name: str = "",
    others_signed_out: bool = True,
) -> None:
    """A second factor changed [24][50][55][58]. `change`: `totp_enabled`, `totp_disabled`,
    `backup_codes_regenerated`, `passkey_added` or `passkey_removed` (`name`: the passkey's)."""
    security = security_of(request)
    context = notice_context(request, security, change=change, name=name, others_signed_out=others_signed_out)
    security.adapter.send_mail(db, to=user.email, template="mfa_changed", context=context)


def notify_email_change_requested(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, new_email: str
) -> None:
    """To the current address: someone asked to move the account to `new_email` (nothing changed yet)."""
    security = security_of(request)
    context = notice_context(
        request, security, new_email=new_email, link_lifetime=security.policy.email_change_ttl
    )
    security.adapter.send_mail(db, to=user.email, template="email_change_requested", context=context)


def notify_email_changed(
    db: AsyncSession, request: Request[Any, Any, Any], old_email: str, new_email: str
) -> None:
    """To the old address: the account's address is now another one."""
    security = security_of(request)
    context = notice_context(request, security, new_email=new_email)
    security.adapter.send_mail(db, to=old_email, template="email_changed", context=context)


KNOWN_DEVICE_MEMORY = timedelta(days=90)
"""A browser that signed in to the account within this long is not "new" (see `is_new_device`)."""


async def is_new_device(
    db: AsyncSession, user: UserSecurityColumns, user_agent: str, security: Security
) -> bool:
    """True unless this device has a live session or remembered browser on the account, or this
    exact browser signed in to it recently (the audit log remembers, so signing out does not make
    a device new again)."""
    label = security.adapter.device_label(user_agent)
    now = security.clock.now()
    since = now - KNOWN_DEVICE_MEMORY
    checks = (
        select(AuthSession.id).where(
            AuthSession.user_id == user.id, AuthSession.device_label == label, AuthSession.expires_at > now
        ),
        select(RememberToken.id).where(
            RememberToken.user_id == user.id,
            RememberToken.device_label == label,
            RememberToken.expires_at > now,
        ),
        select(AuditEvent.id).where(
            AuditEvent.actor_id == user.id,
            AuditEvent.action == "auth.login.succeeded",
            AuditEvent.user_agent == user_agent[:512],
            AuditEvent.occurred_at >= since,
        ),
    )
    for query in checks:
        if await db.scalar(query.limit(1)) is not None:
            return False
    return True


async def notify_if_new_device(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns
) -> None:
    """ "New sign-in to your account" when someone who has signed in before does so from a new device."""
    if user.last_login_at is None:
        return  # the very first sign-in is not news
    security = security_of(request)
    if not await is_new_device(db, user, request.headers.get("user-agent", ""), security):
        return
    security.adapter.send_mail(
        db, to=user.email, template="new_sign_in", context=notice_context(request, security)
    )
