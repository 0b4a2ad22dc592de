"""Registration and address confirmation (requirements 30-34).

Registering never says whether an address is taken: every request gets the same "check your inbox"
answer. A new address gets a confirmation mail (a link for 24 hours and a six-digit code for ten
minutes); an address that already has an account gets a "someone tried to register" notice instead.

The chosen password is not the account's password yet. It waits in the confirmation token and is
applied only when that token is used *from the browser that registered* (the code, or the link
opened there). If the link is opened anywhere else, the address is confirmed but the waiting
password is discarded and the person choosing one now is the one who proved the mailbox. So a
stranger who registers someone else's address first ("pre-hijacking") never ends up with a
working password on the owner's account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.db import release_connection
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.limits import client_address, count_hit, enforce, limit_rules
from app.auth.core.mail_tokens import (
    CodeOutcome,
    CodeProblem,
    Purpose,
    browser_digest,
    check_code,
    issue_email_token,
    retire_tokens,
)
from app.auth.core.models import EmailToken, UserSecurityColumns
from app.auth.core.notices import account_links
from app.auth.core.pending import Pending, new_pending
from app.auth.core.ratelimit import RateLimitExceeded
from app.auth.core.remember_store import forget_user
from app.auth.core.session_store import end_all_sessions
from app.auth.core.throttle import decide
from app.auth.core.toolkit import security_of


class AddressNotAllowedError(Exception):
    """The host's adapter does not let this address hold an account (see `is_open_for_signup`)."""


async def may_mail(request: Request[Any, Any, Any], canonical: str) -> bool:
    """Whether another mail may go to this address this hour (over the limit: silently not sent [13]).

    Both counts commit the request's work so far (see `enforce`): call it before the flow writes.
    """
    rules = limit_rules(request.app)
    await enforce(request, rules.emails_per_ip, client_address(request))
    try:
        await count_hit(request, rules.emails_per_address, canonical)
    except RateLimitExceeded:
        return False
    return True


async def register(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    *,
    email: str,
    password: str,
    extra: Mapping[str, str] | None = None,
) -> Pending:
    """Start a registration for a checked address and password (the host's form validated both).

    The visible outcome is the same whether or not the address is taken. `extra` holds the host's
    own registration fields, handed to the adapter's `populate_user` for a new account. Raises
    `AddressNotAllowedError` when the adapter refuses the address.
    """
    security = security_of(request)
    if not security.adapter.is_open_for_signup(request, email):
        raise AddressNotAllowedError(email)
    canonical = canonical_email(email)
    pending = new_pending(email)
    # Count the mail first (it commits, see `enforce`), then hash in every branch, so the answer
    # takes as long for a taken address as for a new one; with no connection held, as hashing is slow.
    allowed = await may_mail(request, canonical)
    await release_connection(db)
    password_hash = await security.hasher.hash(password)
    user = await _user_for_registration(db, request, email, canonical, extra or {})
    if not allowed:
        return pending
    if user.confirmed_at is None:
        await send_confirmation(db, request, user, email, pending, password_hash)
        await audit(db, request, "auth.register.requested", user_id=user.id)
    else:
        security.adapter.send_mail(
            db, to=user.email, template="registration_attempt", context=account_links(security)
        )
        await audit(db, request, "auth.register.duplicate", user_id=user.id)
    return pending


async def _user_for_registration(
    db: AsyncSession, request: Request[Any, Any, Any], email: str, canonical: str, extra: Mapping[str, str]
) -> UserSecurityColumns:
    security = security_of(request)
    users = security.users
    existing = await db.scalar(select(users).where(users.email_canonical == canonical))
    if existing is not None:
        return existing
    user = users()
    user.email, user.email_canonical = email, canonical
    security.adapter.populate_user(request, user, extra)
    try:
        async with db.begin_nested():
            db.add(user)
            await db.flush()
    except IntegrityError:  # someone registered the same address a moment ago
        existing = await db.scalar(select(users).where(users.email_canonical == canonical))
        assert existing is not None
        return existing
    return user


async def send_confirmation(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    email: str,
    pending: Pending,
    password_hash: str | None,
    *,
    resent: bool = False,
) -> None:
    """Issue a confirmation token (link + code bound to this browser) and mail it."""
    security = security_of(request)
    issued = await issue_email_token(
        db,
        security,
        user=user,
        purpose=Purpose.CONFIRM_EMAIL,
        email=email,
        with_code=True,
        browser_nonce=pending.nonce,
        pending_password_hash=password_hash,
    )
    security.adapter.send_mail(
        db,
        to=email,
        template="confirm_email",
        context={
            "link": security.link("confirm_email", issued.token),
            "code": issued.code,
            "code_lifetime": security.policy.confirmation_code_ttl,
            "link_lifetime": security.policy.confirmation_link_ttl,
            "resent": resent,
        },
    )


async def resend_confirmation(db: AsyncSession, request: Request[Any, Any, Any], pending: Pending) -> None:
    """Send a new link and code for this browser's pending registration (silently nothing otherwise)."""
    try:
        canonical = canonical_email(pending.email)
    except InvalidEmail:
        return
    users = security_of(request).users
    user = await db.scalar(select(users).where(users.email_canonical == canonical))
    if user is None or user.confirmed_at is not None or not await may_mail(request, canonical):
        return
    # Keep the password this browser chose: it waits in the newest token this browser asked for.
    previous = await db.scalar(
        select(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.browser_hash == browser_digest(pending.nonce))
        .order_by(EmailToken.created_at.desc())
        .limit(1)
    )
    if previous is None:
        return
    await send_confirmation(
        db, request, user, pending.email, pending, previous.pending_password_hash, resent=True
    )
    await audit(db, request, "auth.confirmation.resent", user_id=user.id)


@dataclass(frozen=True)
class Confirmed:
    """A confirmed account, and whether this browser's chosen password was applied."""

    user: UserSecurityColumns
    password_applied: bool


async def confirm_address(
    db: AsyncSession, request: Request[Any, Any, Any], token: EmailToken, *, same_browser: bool
) -> Confirmed:
    """Finish a confirmation with a spent token: the address is proven; apply the waiting password
    only when this is the browser that registered."""
    security = security_of(request)
    user = await db.get_one(security.users, token.user_id)
    now = security.clock.now()
    apply_password = same_browser and token.pending_password_hash is not None
    # Whatever existed before the owner proved the address is not theirs: drop it [34].
    await end_all_sessions(db, user.id)
    await forget_user(db, user.id)
    await retire_tokens(db, security, user.id, Purpose.CONFIRM_EMAIL)
    newly_confirmed = user.confirmed_at is None
    user.confirmed_at = user.confirmed_at or now
    user.email = token.email
    user.password_hash = token.pending_password_hash if apply_password else None
    user.password_changed_at = now if apply_password else None
    await db.flush()
    if newly_confirmed:
        await security.adapter.account_confirmed(db, request, user)
    await audit(db, request, "auth.email.confirmed", user_id=user.id, same_browser=same_browser)
    return Confirmed(user=user, password_applied=apply_password)


@dataclass(frozen=True)
class CodeAttempt:
    """The result of typing a confirmation code."""

    confirmed: Confirmed | None
    problem: CodeProblem | None


async def confirm_with_code(
    db: AsyncSession, request: Request[Any, Any, Any], pending: Pending | None, code: str
) -> CodeAttempt:
    """Confirm with the code typed in the registering browser.

    Wrong codes also count against the address's sign-in throttle, so asking for new codes does
    not buy an endless supply of guesses (each code allows only a few, the address a bounded total).
    """
    security = security_of(request)
    canonical = _canonical_or_none(pending.email) if pending else None
    if canonical is not None:
        state = await request.app.state.throttles.state(db, canonical)
        decision = decide(state, security.clock.now(), security.policy)
        if not decision.allowed:
            return CodeAttempt(None, CodeProblem("throttled", retry_after=decision.retry_after))
    check = await check_code(
        db,
        security,
        purpose=Purpose.CONFIRM_EMAIL,
        browser_nonce=pending.nonce if pending else None,
        code=code,
    )
    if check.outcome is CodeOutcome.ACCEPTED and check.token is not None:
        if canonical is not None:
            await request.app.state.throttles.clear(db, canonical)
        return CodeAttempt(await confirm_address(db, request, check.token, same_browser=True), None)
    if check.outcome is CodeOutcome.WRONG and canonical is not None:
        await request.app.state.throttles.record_failure(db, canonical)
    await db.commit()  # keep the spent try even though this request fails
    return CodeAttempt(None, CodeProblem.after(check))


def _canonical_or_none(email: str) -> str | None:
    try:
        return canonical_email(email)
    except InvalidEmail:
        return None
