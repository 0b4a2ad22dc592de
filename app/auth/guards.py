"""Guards that state the rule: `requires_user`, `requires_sudo`, `requires_anonymous`.

A guard that fails raises; the exception handlers below turn that into the right answer for the
client: a redirect to the sign-in (or re-authentication) page that brings the user back where they
were, an `HX-Redirect` for htmx (never a login form swapped into a fragment), or 401 JSON for the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN
from litestar.types import ExceptionHandlersMap

from app.auth.core.redirects import safe_redirect_target
from app.auth.core.sessions import sudo_is_fresh
from app.auth.security import Security
from app.auth.sessions import CurrentSession
from app.web.htmx import is_htmx, see_other


class LoginRequired(HTTPException):
    """The page needs a signed-in user."""

    status_code = HTTP_401_UNAUTHORIZED
    detail = "Sign in to continue"


class SudoRequired(HTTPException):
    """The action needs a recent re-authentication."""

    status_code = HTTP_403_FORBIDDEN
    detail = "Confirm it is you to continue"


def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only signed-in users."""
    if connection.scope.get("user") is None:
        raise LoginRequired()


def requires_sudo(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Signed in, and credentials presented within the sudo window [28]."""
    requires_user(connection, handler)
    security: Security = connection.app.state.security
    current: CurrentSession = connection.scope["auth"]
    if not sudo_is_fresh(current.authenticated_at, security.clock.now(), security.policy):
        raise SudoRequired()


def requires_anonymous(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Pages like sign-in and registration send signed-in users to their account instead."""
    if connection.scope.get("user") is not None:
        raise AlreadySignedIn()


class AlreadySignedIn(HTTPException):
    """A signed-out-only page was requested while signed in."""

    status_code = HTTP_403_FORBIDDEN


def return_path(request: Request[Any, Any, Any]) -> str:
    """Where to come back to after signing in: this page, or for htmx the page the user is on."""
    if is_htmx(request):
        current = request.headers.get("hx-current-url", "")
        parts = urlsplit(current)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return safe_redirect_target(path or "/")
    if request.method == "GET":
        return safe_redirect_target(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    # A POST cannot be replayed after signing in; return to the page the form was on.
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.headers.get("host"):
        return safe_redirect_target(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


def login_required_handler(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    """Send the user to sign in, then back here."""
    if request.url.path.startswith("/api/"):
        return Response(
            {"status": 401, "error": "Authentication required"}, status_code=HTTP_401_UNAUTHORIZED
        )
    return see_other(request, f"/login?next={quote(return_path(request), safe='/')}")


def sudo_required_handler(request: Request[Any, Any, Any], _: SudoRequired) -> Response[Any]:
    """Send the user to confirm their password, then back to what they were doing."""
    return see_other(request, f"/sudo?next={quote(return_path(request), safe='/')}")


def already_signed_in_handler(request: Request[Any, Any, Any], _: AlreadySignedIn) -> Response[Any]:
    """Signed-in users have no business on the sign-in page: show their account."""
    return see_other(request, "/settings")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    LoginRequired: login_required_handler,
    SudoRequired: sudo_required_handler,
    AlreadySignedIn: already_signed_in_handler,
}
"""Registered by `create_app`."""
