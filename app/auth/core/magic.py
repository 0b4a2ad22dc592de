"""Signing in by a mailed link or code, without a password (requirements 41-43).

Asking never says whether an address has an account: every request gets the same "check your
inbox" answer and the same signed `magic` cookie (a fresh random nonce and the typed address).
Only an active, confirmed account gets mail: a link and a six-digit code, both good for ten
minutes and both bound to the browser that asked, whose nonce is stored hashed on the token.

Mail scanners fetch every link they see, so opening the link only shows a "Sign in as …" button;
the POST behind the button spends the token in one conditional UPDATE, so two clicks racing each
other start exactly one session. Opened in another browser, the link signs nobody in: that person
is told to open it where they asked, or to type the code there. Codes are guessed against the same
per-address throttle as passwords.

The mail proves control of a mailbox, which is one factor. For an account with a second factor it
replaces only the password: `second_factor_for` still decides whether a session may start.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.mail_tokens import (
    CodeOutcome,
    CodeProblem,
    Purpose,
    browser_digest,
    check_code,
    find_live_token,
    issue_email_token,
    spend_token,
)
from app.auth.core.models import EmailToken, UserSecurityColumns
from app.auth.core.pending import Pending, new_pending, read_pending
from app.auth.core.platform_admin import admin_of
from app.auth.core.registration import may_mail
from app.auth.core.signin import Identified, ThrottledError, check_throttle, identify
from app.auth.core.tokens import digests_match
from app.auth.core.toolkit import Security, security_of


def magic_cookie_max_age(security: Security) -> int:
    """Seconds the `magic` cookie lives: as long as the link and code it ties to this browser."""
    return int(security.policy.magic_link_ttl.total_seconds())


async def may_sign_in_by_mail(db: AsyncSession, user: UserSecurityColumns) -> bool:
    """Whether a mailed link may sign `user` in: an active, confirmed account that is no administrator.

    Administrators sign in with their password (or a passkey) and second factor only: a mailbox
    is a weaker thing to protect the admin console with (requirement 41).
    """
    if not (user.can_sign_in and user.confirmed_at is not None):
        return False
    return await admin_of(db, user.id) is None


async def request_magic_link(db: AsyncSession, request: Request[Any, Any, Any], email: str) -> Pending:
    """Mail a link and a code to the account with this address, if any; the same outcome either way."""
    security = security_of(request)
    pending = new_pending(email)
    who = await identify(db, request, email)
    # The mail limits count every address, known or not, so a 429 cannot tell them apart.
    if who.canonical is None or not await may_mail(request, who.canonical):
        return pending
    user = who.user
    if user is None or not await may_sign_in_by_mail(db, user):
        return pending
    issued = await issue_email_token(
        db,
        security,
        user=user,
        purpose=Purpose.MAGIC_LINK,
        email=user.email,
        with_code=True,
        browser_nonce=pending.nonce,
    )
    context = {
        "link": security.link("magic_link", issued.token),
        "code": issued.code,
        "lifetime": security.policy.magic_link_ttl,
    }
    security.adapter.send_mail(db, to=user.email, template="magic_link", context=context)
    await audit(db, request, "auth.magic_link.requested", user_id=user.id)
    return pending


class LinkState(StrEnum):
    """What a sign-in link can do in the browser that opened it."""

    READY = "ready"  # live, and this is the browser that asked for it
    OTHER_BROWSER = "other_browser"  # live, but asked for elsewhere
    GONE = "gone"  # unknown, expired or already used


@dataclass(frozen=True)
class LinkCheck:
    """A link's state and address; `user` is set only once the link has been spent to sign them in."""

    state: LinkState
    email: str = ""
    user: UserSecurityColumns | None = None


async def look_at_link(db: AsyncSession, request: Request[Any, Any, Any], token: str) -> LinkCheck:
    """What `token` can do in this browser, without spending it (mail scanners open links too)."""
    security = security_of(request)
    row = await find_live_token(db, security, token, Purpose.MAGIC_LINK) if token else None
    if row is None:
        return LinkCheck(LinkState.GONE)
    if not _asked_in_this_browser(request, security, row):
        return LinkCheck(LinkState.OTHER_BROWSER)
    return LinkCheck(LinkState.READY, email=row.email)


async def sign_in_with_link(db: AsyncSession, request: Request[Any, Any, Any], token: str) -> LinkCheck:
    """Spend `token` for the browser that asked for it; the result names the user to sign in."""
    security = security_of(request)
    check = await look_at_link(db, request, token)
    # Another browser never spends the token: the person who asked can still use it.
    if check.state is not LinkState.READY:
        return check
    spent = await spend_token(db, security, token, Purpose.MAGIC_LINK)
    user = await _account_for(db, request, spent) if spent is not None else None
    if user is None:  # a parallel click won, or the account changed since the mail went out
        return LinkCheck(LinkState.GONE)
    return LinkCheck(LinkState.READY, email=check.email, user=user)


def _asked_in_this_browser(request: Request[Any, Any, Any], security: Security, row: EmailToken) -> bool:
    pending = read_pending(request, security, name=security.cookies.magic)
    return pending is not None and digests_match(row.browser_hash, browser_digest(pending.nonce))


async def _account_for(
    db: AsyncSession, request: Request[Any, Any, Any], token: EmailToken
) -> UserSecurityColumns | None:
    """The token's account, if it may still sign in and still has the address the mail went to."""
    user = await db.get(security_of(request).users, token.user_id)
    if user is None or not await may_sign_in_by_mail(db, user):
        return None
    try:
        same_address = canonical_email(token.email) == user.email_canonical
    except InvalidEmail:
        return None
    return user if same_address else None


@dataclass(frozen=True)
class CodeSignIn:
    """The result of typing a sign-in code: the user to sign in, or why not."""

    user: UserSecurityColumns | None
    problem: CodeProblem | None


async def sign_in_with_code(
    db: AsyncSession, request: Request[Any, Any, Any], pending: Pending | None, code: str
) -> CodeSignIn:
    """Check the code typed in the browser that asked for it.

    Wrong codes count against the address's sign-in throttle, as wrong passwords do, so asking for
    new codes does not buy an endless supply of guesses.
    """
    security = security_of(request)
    who = await identify(db, request, pending.email) if pending else Identified(None, None)
    try:
        await check_throttle(db, request, who)
    except ThrottledError as exc:
        return CodeSignIn(None, CodeProblem("throttled", retry_after=exc.retry_after))
    check = await check_code(
        db,
        security,
        purpose=Purpose.MAGIC_LINK,
        browser_nonce=pending.nonce if pending else None,
        code=code,
    )
    user = await _account_for(db, request, check.token) if check.token is not None else None
    if user is not None:
        if who.canonical is not None:
            await request.app.state.throttles.clear(db, who.canonical)
        return CodeSignIn(user, None)
    if check.outcome is CodeOutcome.WRONG:
        if who.canonical is not None:
            await request.app.state.throttles.record_failure(db, who.canonical)
        user_id = who.user.id if who.user else None
        await audit(db, request, "auth.login.failed", outcome="failure", user_id=user_id, method="magic_link")
    await db.commit()  # keep the spent try (and a spent token) even though this request fails
    return CodeSignIn(None, CodeProblem.after(check))
