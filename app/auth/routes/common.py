"""Small pieces the account routes share: form bodies, signing someone in, the link-token cookie."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.sessions import SessionKind
from app.auth.devices import device_label
from app.auth.email_tokens import Purpose, retire_tokens
from app.auth.events import audit
from app.auth.models import User
from app.auth.notices import notify_if_new_device
from app.auth.remember import remember_user, set_remember_cookie
from app.auth.security import Security
from app.auth.sessions import begin_session, set_session_cookie
from app.web.cookies import expire_cookie, set_cookie
from app.web.htmx import see_other

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A posted HTML form."""

NO_STORE = {"Cache-Control": "no-store"}
"""Account pages must not linger in caches or history [87]."""

TOKEN_PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer"}
"""Pages reached from a mailed link: nothing about them leaks through Referer [38]."""


async def sign_user_in(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    response: Response[Any],
    user: User,
    *,
    kind: SessionKind,
    remember: bool = False,
) -> None:
    """Start a session for `user` (a new token, never an adopted one) and set its cookies."""
    security: Security = request.app.state.security
    await notify_if_new_device(db, request, user)  # before this session makes the device known
    remember_token_id = None
    if remember:
        agent = request.headers.get("user-agent", "")
        remember_token_id, value = await remember_user(db, user, device_label(agent), security)
        set_remember_cookie(response, value, security)
    new = await begin_session(db, request, user, kind, security, remember_token_id=remember_token_id)
    set_session_cookie(response, new.token, security)
    # A successful sign-in means the password is known again: outstanding reset links die [36].
    await retire_tokens(db, security, user.id, Purpose.RESET_PASSWORD)
    user.last_login_at = security.clock.now()
    await audit(db, request, "auth.login.succeeded", user_id=user.id, method=kind.value, remember=remember)


def link_cookie_name(security: Security) -> str:
    """The cookie holding a mailed link's token between the landing redirect and the POST."""
    return "__Host-link" if security.secure_cookies else "link"


def keep_link_token(response: Response[Any], token: str, security: Security) -> None:
    """Move a token out of the URL into a short-lived cookie (so it is never in history or Referer)."""
    set_cookie(
        response,
        link_cookie_name(security),
        token,
        secure=security.secure_cookies,
        max_age=_longest_link_lifetime(security),
    )


def _longest_link_lifetime(security: Security) -> int:
    """The cookie may live as long as the longest-lived link: the token inside still expires on time."""
    policy = security.policy
    ttls = (
        policy.confirmation_link_ttl,
        policy.password_reset_ttl,
        policy.magic_link_ttl,
        policy.email_change_ttl,
    )
    return int(max(ttls).total_seconds())


def forget_link_token(response: Response[Any], security: Security) -> None:
    """Drop the link-token cookie."""
    expire_cookie(response, link_cookie_name(security), secure=security.secure_cookies)


def land_from_mail(request: Request[Any, Any, Any], path: str, token: str) -> Response[Any]:
    """The first hop of every mailed link: keep the token in a cookie and reload `path` without it.

    After this the token is in no URL, so it cannot leak through history, bookmarks, `Referer` or
    access logs; the page the browser lands on reads it from the cookie [38].
    """
    security: Security = request.app.state.security
    response = see_other(request, path)
    response.headers.update(TOKEN_PAGE_HEADERS)
    keep_link_token(response, token, security)
    return response


def kept_link_token(request: Request[Any, Any, Any]) -> str:
    """The token `land_from_mail` kept for this browser ("" when none)."""
    return request.cookies.get(link_cookie_name(request.app.state.security), "")
