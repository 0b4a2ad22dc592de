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

from app.audit.models import AuditEvent
from app.auth.devices import device_label
from app.auth.limits import client_address
from app.auth.models import AuthSession, RememberToken, User
from app.auth.security import Security
from app.formatting import human_duration
from app.mail import Mail, send_mail

__all__ = (
    "account_links",
    "is_new_device",
    "notice_context",
    "notify_email_change_requested",
    "notify_email_changed",
    "notify_if_new_device",
    "notify_password_changed",
)


def account_links(security: Security) -> dict[str, str]:
    """Where to sign in and where to reset a password (for "was it you?" mails)."""
    base = security.settings.base_url
    return {"sign_in_link": f"{base}/login", "reset_link": f"{base}/forgot-password"}


def notice_context(request: Request[Any, Any, Any], security: Security, **extra: Any) -> dict[str, Any]:
    """What every notice shows: when (UTC), from where, and the links to act on it."""
    return {
        "when": security.clock.now().strftime("%d %B %Y at %H:%M UTC"),
        "device": device_label(request.headers.get("user-agent", "")),
        "ip_address": client_address(request),
        "sessions_link": f"{security.settings.base_url}/settings/sessions",
        **account_links(security),
        **extra,
    }


def notify_password_changed(
    db: AsyncSession, request: Request[Any, Any, Any], user: User, *, how: str
) -> None:
    """ "Your password was changed" (how: `reset` or `changed`)."""
    security: Security = request.app.state.security
    context = notice_context(request, security, how=how)
    send_mail(db, Mail(to=user.email, template="password_changed", context=context))


def notify_email_change_requested(
    db: AsyncSession, request: Request[Any, Any, Any], user: User, new_email: str
) -> None:
    """To the current address: someone asked to move the account to `new_email` (nothing changed yet)."""
    security: Security = request.app.state.security
    context = notice_context(
        request, security, new_email=new_email, link_lifetime=human_duration(security.policy.email_change_ttl)
    )
    send_mail(db, Mail(to=user.email, template="email_change_requested", context=context))


def notify_email_changed(
    db: AsyncSession, request: Request[Any, Any, Any], old_email: str, new_email: str
) -> None:
    """To the old address: the account's address is now another one."""
    security: Security = request.app.state.security
    context = notice_context(request, security, new_email=new_email)
    send_mail(db, Mail(to=old_email, template="email_changed", context=context))


KNOWN_DEVICE_MEMORY = timedelta(days=90)
"""A browser that signed in to the account within this long is not "new" (see `is_new_device`)."""


async def is_new_device(db: AsyncSession, user: User, user_agent: str, security: Security) -> bool:
    """True unless this device has a live session or remembered browser on the account, or this
    exact browser signed in to it recently (the audit log remembers, so signing out does not make
    a device new again)."""
    label = device_label(user_agent)
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


async def notify_if_new_device(db: AsyncSession, request: Request[Any, Any, Any], user: User) -> None:
    """ "New sign-in to your account" when someone who has signed in before does so from a new device."""
    if user.last_login_at is None:
        return  # the very first sign-in is not news
    security: Security = request.app.state.security
    if not await is_new_device(db, user, request.headers.get("user-agent", ""), security):
        return
    send_mail(db, Mail(to=user.email, template="new_sign_in", context=notice_context(request, security)))
