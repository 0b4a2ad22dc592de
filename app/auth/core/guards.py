"""Guards that state the rule: `requires_user`, `requires_sudo`, `requires_anonymous`.

A guard that fails raises one of the exceptions below; the host registers handlers that turn them
into the right answer for its pages (a redirect to sign in that comes back here, `HX-Redirect` for
htmx, 401 JSON for an API). The guards are `async`, so Litestar calls them on the event loop
instead of sending each one to a thread; they do no database I/O (`requires_sudo` reads the
refused form's body, to keep it for after the prompt).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from app.auth.core.redirects import safe_redirect_target
from app.auth.core.sessions import sudo_is_fresh
from app.auth.core.sudo import seal_replay
from app.auth.core.toolkit import security_of

__all__ = (
    "AlreadySignedIn",
    "ImpersonationRefused",
    "LoginRequired",
    "SudoRequired",
    "requires_anonymous",
    "requires_sudo",
    "requires_user",
    "return_path",
)


class LoginRequired(HTTPException):
    """The page needs a signed-in user."""

    status_code = HTTP_401_UNAUTHORIZED
    detail = "Sign in to continue"


class SudoRequired(HTTPException):
    """The action needs a recent re-authentication.

    `replay` is the interrupted form POST, sealed (`sudo.seal_replay`), for the host's handler to
    keep in the browser (`sudo.keep_replay`) so the action can finish after the prompt.
    """

    status_code = HTTP_403_FORBIDDEN
    detail = "Confirm it is you to continue"

    def __init__(self, *args: Any, replay: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replay = replay


class ImpersonationRefused(HTTPException):
    """Not while signed in as someone else: stop impersonating first [75]."""

    status_code = HTTP_403_FORBIDDEN
    detail = "Not available while you are signed in as someone else. Stop impersonating first."


class AlreadySignedIn(HTTPException):
    """A signed-out-only page was requested while signed in."""

    status_code = HTTP_403_FORBIDDEN


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only signed-in users."""
    if connection.scope.get("user") is None:
        raise LoginRequired()


async def requires_sudo(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Signed in, and credentials presented within the sudo window [28]."""
    await requires_user(connection, handler)
    security = security_of(connection)
    current = connection.scope["auth"]
    if current.impersonator_id is not None:
        # Whatever needs sudo changes how the account is protected: never as someone else [75].
        raise ImpersonationRefused()
    if not sudo_is_fresh(current.authenticated_at, security.clock.now(), security.policy):
        raise SudoRequired(replay=await seal_replay(connection))


async def requires_anonymous(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Pages like sign-in and registration send signed-in users to their account instead."""
    if connection.scope.get("user") is not None:
        raise AlreadySignedIn()


def return_path(request: Request[Any, Any, Any]) -> str:
    """Where to come back to after signing in: this page, or for htmx the page the user is on.

    Always a same-site path (`safe_redirect_target`), so the sign-in page cannot be turned into
    an open redirect.
    """
    headers = request.headers
    if headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true":
        parts = urlsplit(request.headers.get("hx-current-url", ""))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return safe_redirect_target(path or "/")
    if request.method == "GET":
        return safe_redirect_target(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    # A POST cannot be replayed after signing in; return to the page the form was on.
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.headers.get("host"):
        return safe_redirect_target(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"
