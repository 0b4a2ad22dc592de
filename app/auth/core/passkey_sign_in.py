"""What a verified passkey opens: a session, the rest of a pre-session, or a fresh sudo window.

- **Signing in without an email address.** Nobody is known when the ceremony starts, so the
  challenge is bound to a nonce in this browser's cookie [54], and the options name no account
  [57]. The passkey's owner is found from the verified response. A passkey with user
  verification is both factors at once, so the session starts directly, as `passkey` (which
  counts as fresh authentication for sudo) [15][28].
- **As the second factor**, after a password, a mailed link or a remembered browser: the
  challenge is bound to the pre-session and lists only that user's passkeys [16][56]. Passkeys
  are not subject to the MFA lock [49], which exists against guessed codes: a passkey cannot be
  guessed, and the same passkey could sign in without a password anyway.
- **Sudo**: the challenge is bound to the session and the passkey must be the signed-in user's;
  like the password, it gives the session a new token and a fresh sudo window [18][28].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.passkey_challenges import (
    Ceremony,
    PasskeyRefused,
    browser_binding,
    browser_nonce,
    forget_browser,
    new_browser_nonce,
    pre_session_binding,
    session_binding,
    set_browser_cookie,
)
from app.auth.core.passkeys import authentication_options, finish_authentication
from app.auth.core.second_factor import (
    Redirect,
    cancel_pending,
    continue_sign_in,
    finish_pending,
    has_pre_session,
    load_pending,
)
from app.auth.core.sessions import SessionKind
from app.auth.core.sudo import grant_sudo
from app.auth.core.toolkit import security_of

__all__ = (
    "answer_with_passkey",
    "second_factor_options",
    "sign_in_options",
    "sign_in_with_passkey",
    "sudo_options",
    "sudo_with_passkey",
)

Respond = Callable[[dict[str, Any]], Response[Any]]
"""Makes the host's response carrying ceremony options (JSON) to the browser."""


# --- signing in without an email address [57]


async def sign_in_options(
    db: AsyncSession, request: Request[Any, Any, Any], respond: Respond
) -> Response[Any]:
    """Options for a usernameless sign-in, bound to this browser (its nonce cookie is set or kept)."""
    nonce = browser_nonce(request) or new_browser_nonce()
    options = await authentication_options(db, request, Ceremony.SIGN_IN, browser_binding(nonce))
    response = respond(options)
    set_browser_cookie(response, nonce, security_of(request))
    return response


async def sign_in_with_passkey(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    credential: Mapping[str, Any],
    *,
    redirect: Redirect,
    next_url: str | None = None,
) -> Response[Any]:
    """Verify the assertion and start the session of the passkey's owner; raises `PasskeyRefused`.

    `next_url` must already be a safe same-site path (or None for the adapter's default).
    """
    security = security_of(request)
    nonce = browser_nonce(request)
    if nonce is None:
        raise PasskeyRefused("expired")
    user = await finish_authentication(db, request, Ceremony.SIGN_IN, browser_binding(nonce), credential)
    response = await continue_sign_in(
        db, request, user, kind=SessionKind.PASSKEY, redirect=redirect, next_url=next_url
    )
    forget_browser(response, security)
    if has_pre_session(request):  # a sign-in this browser left half done is not needed any more
        await cancel_pending(db, request, response)
    return response


# --- the second factor [16]


async def second_factor_options(db: AsyncSession, request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """Options for the pre-session's user's passkeys; None when this browser has no live pre-session."""
    pending = await load_pending(db, request)
    if pending is None:
        return None
    return await authentication_options(
        db, request, Ceremony.SECOND_FACTOR, pre_session_binding(pending.id), user_id=pending.user_id
    )


async def answer_with_passkey(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    credential: Mapping[str, Any],
    *,
    redirect: Redirect,
    trust_browser: bool = False,
) -> Response[Any] | None:
    """Complete the pre-session with a passkey; the response that starts the session.

    None when there is no live pre-session (sign in again); raises `PasskeyRefused` when the
    assertion does not verify.
    """
    security = security_of(request)
    pending = await load_pending(db, request)
    if pending is None:
        return None
    user = await finish_authentication(
        db,
        request,
        Ceremony.SECOND_FACTOR,
        pre_session_binding(pending.id),
        credential,
        user_id=pending.user_id,
    )
    # Spending the challenge committed; take the pre-session again, locked, so that a code typed
    # in another tab at the same moment cannot complete it a second time [16].
    pending = await load_pending(db, request, lock=True)
    if pending is None or pending.user_id != user.id:
        return None
    user.mfa_failures = 0
    await audit(db, request, "auth.login.second_factor_passed", user_id=user.id, method="passkey")
    response = redirect(pending.next_url or security.adapter.login_redirect_url(request, user))
    await finish_pending(db, request, response, pending, user, trust_browser=trust_browser)
    return response


# --- sudo [28]


async def sudo_options(db: AsyncSession, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Options for the signed-in user's passkeys, bound to this session."""
    return await authentication_options(
        db, request, Ceremony.SUDO, session_binding(request.auth.id), user_id=request.user.id
    )


async def sudo_with_passkey(
    db: AsyncSession, request: Request[Any, Any, Any], response: Response[Any], credential: Mapping[str, Any]
) -> None:
    """Verify the assertion; then a fresh session token and a fresh sudo window, like the password."""
    await finish_authentication(
        db, request, Ceremony.SUDO, session_binding(request.auth.id), credential, user_id=request.user.id
    )
    await grant_sudo(db, request, response, method="passkey")
