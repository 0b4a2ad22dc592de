"""Changing the address of an account (requirements 44-46).

Asking for a change (under sudo) changes nothing about the account. It records a pending change:
a CHANGE_EMAIL token bound to the user and the new address, good for 24 hours. The link goes to
the new address, so only someone who can read that mailbox can finish the change. A newer request
retires the older token, so only the newest link works. The old address is told at once, with
"reset your password if it was not you" (a reset ends the pending change too), and again when the
change is done.

What the requester sees never depends on whether the new address already belongs to another
account (that would let any signed-in user probe for accounts). The pending change is recorded
and shown the same way; only the mail differs: the owner of a taken address gets "someone asked
to use this address" and no link, so that pending change can never be confirmed. Confirming
checks uniqueness again, because another account may have taken the address in the meantime.

Confirming ends every other session and every remember-me token of the account: whoever might
have been signed in before the address moved is signed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.identity import canonical_email
from app.auth.core.mail_tokens import Purpose, find_live_token, issue_email_token, retire_tokens, spend_token
from app.auth.core.models import EmailToken, UserSecurityColumns
from app.auth.core.notices import account_links, notify_email_change_requested, notify_email_changed
from app.auth.core.registration import AddressNotAllowedError, may_mail
from app.auth.core.remember_store import forget_user
from app.auth.core.session_store import CurrentSession, end_all_sessions, end_other_sessions
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "Changed",
    "cancel_change",
    "confirm_change",
    "find_change",
    "pending_change",
    "request_change",
)


async def pending_change(
    db: AsyncSession, security: Security, user: UserSecurityColumns
) -> EmailToken | None:
    """The change waiting for confirmation, if any (the newest live token; older ones are retired)."""
    return await db.scalar(
        select(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == Purpose.CHANGE_EMAIL.value,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > security.clock.now(),
        )
        .order_by(EmailToken.created_at.desc())
        .limit(1)
    )


async def request_change(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, new_email: str
) -> None:
    """Record a pending change to a valid new address and mail both addresses.

    The same work is done whether or not the address is taken; only the mail to it differs.
    """
    security = security_of(request)
    # An address that may not register may not be moved to either (a domain-restricted product).
    if not security.adapter.is_open_for_signup(request, new_email):
        raise AddressNotAllowedError(new_email)
    canonical = canonical_email(new_email)
    allowed = await may_mail(request, canonical)  # 429 when this client sends too much mail
    issued = await issue_email_token(db, security, user=user, purpose=Purpose.CHANGE_EMAIL, email=new_email)
    if allowed:
        holder = await _account_with(db, request, canonical)
        if holder is not None and holder.id != user.id:
            # To the address as that account stores it: the form its owner proved.
            security.adapter.send_mail(
                db, to=holder.email, template="email_in_use", context=account_links(security)
            )
        else:
            link = security.link("confirm_email_change", issued.token)
            context = {"link": link, "link_lifetime": security.policy.email_change_ttl}
            security.adapter.send_mail(db, to=new_email, template="email_change_confirm", context=context)
    notify_email_change_requested(db, request, user, new_email)
    await audit(db, request, "account.email_change.requested", user_id=user.id, new_domain=_domain(new_email))


async def cancel_change(db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns) -> bool:
    """Retire the pending change; False when there was none."""
    security = security_of(request)
    if await pending_change(db, security, user) is None:
        return False
    await retire_tokens(db, security, user.id, Purpose.CHANGE_EMAIL)
    await audit(db, request, "account.email_change.cancelled", user_id=user.id)
    return True


async def find_change(db: AsyncSession, request: Request[Any, Any, Any], token: str) -> EmailToken | None:
    """The live change behind a link, without spending it; None if this browser may not use it."""
    security = security_of(request)
    row = await find_live_token(db, security, token, Purpose.CHANGE_EMAIL) if token else None
    signed_in: UserSecurityColumns | None = request.scope.get("user")
    # The link alone proves the new mailbox, so a signed-out browser may use it; a browser signed
    # in as someone else may not (that is a mix-up or an attack, never what the owner meant).
    if row is None or (signed_in is not None and signed_in.id != row.user_id):
        return None
    return row


@dataclass(frozen=True)
class Changed:
    """A finished change: the account, and whether this browser stayed signed in to it."""

    user: UserSecurityColumns
    kept_this_session: bool


async def confirm_change(db: AsyncSession, request: Request[Any, Any, Any], token: str) -> Changed | None:
    """Spend a link and move the account to its address; None (and nothing changed) when it cannot."""
    security = security_of(request)
    if await find_change(db, request, token) is None:
        return None
    spent = await spend_token(db, security, token, Purpose.CHANGE_EMAIL)
    if spent is None:  # another click won the race
        return None
    user = await db.get_one(security.users, spent.user_id)
    if not user.is_active:  # disabled since asking: an administrator's decision stands
        return None
    old_email = user.email
    if not await _move_address(db, request, user, spent.email):
        await audit(
            db, request, "account.email_change.confirmed", outcome="failure", user_id=user.id, reason="taken"
        )
        await db.commit()  # keep the link spent and the event recorded, though the answer is an error
        return None
    await retire_tokens(
        db, security, user.id, Purpose.CHANGE_EMAIL, Purpose.RESET_PASSWORD, Purpose.MAGIC_LINK
    )
    # Whoever was signed in before the address moved is signed out, except this browser when it
    # is the owner's own; every remember-me token goes too (this browser keeps only its session).
    current: CurrentSession | None = request.scope.get("auth")
    signed_in: UserSecurityColumns | None = request.scope.get("user")
    kept = current.id if current is not None and signed_in is not None and signed_in.id == user.id else None
    if kept is not None:
        await end_other_sessions(db, user.id, keep=kept)
    else:
        await end_all_sessions(db, user.id)
    await forget_user(db, user.id)
    notify_email_changed(db, request, old_email, user.email)
    await audit(
        db, request, "account.email_change.confirmed", user_id=user.id, new_domain=_domain(user.email)
    )
    return Changed(user=user, kept_this_session=kept is not None)


async def _account_with(
    db: AsyncSession, request: Request[Any, Any, Any], canonical: str
) -> UserSecurityColumns | None:
    users = security_of(request).users
    return await db.scalar(select(users).where(users.email_canonical == canonical))


async def _move_address(
    db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns, email: str
) -> bool:
    """Set the account's address; False when another account holds it (now, or a moment ago)."""
    canonical = canonical_email(email)
    holder = await _account_with(db, request, canonical)
    if holder is not None and holder.id != user.id:
        return False
    try:
        async with db.begin_nested():
            user.email = email
            user.email_canonical = canonical
            await db.flush()
    except IntegrityError:  # another account took it between the check and the write
        await db.refresh(user)
        return False
    return True


def _domain(email: str) -> str:
    # Addresses are personal data: the audit log keeps only the domain of the new one.
    return email.rsplit("@", 1)[-1]
