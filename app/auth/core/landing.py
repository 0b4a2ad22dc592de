"""Mailed links land here first: the token leaves the URL for a short-lived cookie [38].

The first hop of every mailed link keeps the token in a cookie and redirects to the same page
without it. After that the token is in no URL, so it cannot leak through history, bookmarks,
`Referer` or access logs; the page the browser lands on reads it back with `kept_link_token`.

Only a value that could be one of our tokens is kept: a cookie header carries Latin-1 at most, and
a link that was mangled on its way (or made up) is simply an invalid link on the page it lands on.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect

from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.toolkit import Security, security_of

__all__ = ("NO_STORE", "TOKEN_PAGE_HEADERS", "forget_link_token", "kept_link_token", "land_from_mail")

NO_STORE = {"Cache-Control": "no-store"}
"""Account pages must not linger in caches or history [87]."""

TOKEN_PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer"}
"""Pages reached from a mailed link: nothing about them leaks through Referer [38]."""


_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_\-]+")
"""What `tokens.new_token` makes: URL-safe base64."""


def land_from_mail(request: Request[Any, Any, Any], path: str, token: str) -> Response[Any]:
    """Keep `token` in a cookie and send the browser to `path` without it (303).

    A value no token of ours can have is not kept, and an earlier link's token is dropped, so the
    page says the link is invalid (it used to be a 500: the cookie could not be encoded).
    """
    security = security_of(request)
    response: Response[Any] = Redirect(path, status_code=303, headers=TOKEN_PAGE_HEADERS)
    if _TOKEN_SHAPE.fullmatch(token) is None:
        forget_link_token(response, security)
        return response
    set_cookie(
        response,
        security.cookies.link,
        token,
        secure=security.secure_cookies,
        max_age=_longest_link_lifetime(security),
    )
    return response


def kept_link_token(request: Request[Any, Any, Any]) -> str:
    """The token `land_from_mail` kept for this browser ("" when none)."""
    return request.cookies.get(security_of(request).cookies.link, "")


def forget_link_token(response: Response[Any], security: Security) -> None:
    """Drop the link-token cookie."""
    expire_cookie(response, security.cookies.link, secure=security.secure_cookies)


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
