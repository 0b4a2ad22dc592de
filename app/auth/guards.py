"""What the host shows when a core guard refuses a request (the guards are in `app.auth.core.guards`).

A redirect to the sign-in (or re-authentication) page that brings the user back where they were,
an `HX-Redirect` for htmx (never a login form swapped into a fragment), or 401 JSON for the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.status_codes import HTTP_401_UNAUTHORIZED
from litestar.types import ExceptionHandlersMap

from app.auth.core.guards import (
    AlreadySignedIn,
    LoginRequired,
    SudoRequired,
    requires_anonymous,
    requires_sudo,
    requires_user,
    return_path,
)
from app.auth.core.second_factor import has_pre_session
from app.auth.core.sudo import keep_replay
from app.auth.core.toolkit import security_of
from app.web.htmx import see_other
from app.web.landing import LANDING_PATH

__all__ = ("EXCEPTION_HANDLERS", "requires_anonymous", "requires_sudo", "requires_user")


def login_required_handler(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    """Send the user to sign in, then back here."""
    if request.url.path.startswith("/api/"):
        return Response(
            {"status": 401, "error": "Authentication required"}, status_code=HTTP_401_UNAUTHORIZED
        )
    if has_pre_session(request):
        # Half signed in: the second step is where this browser belongs [15][16].
        return see_other(request, "/login/two-factor")
    return see_other(request, f"/login?next={quote(return_path(request), safe='/')}")


def sudo_required_handler(request: Request[Any, Any, Any], exc: SudoRequired) -> Response[Any]:
    """Send the user to confirm it is them, then back to what they were doing (the form kept)."""
    response = see_other(request, f"/sudo?next={quote(return_path(request), safe='/')}")
    if exc.replay is not None:
        keep_replay(response, exc.replay, security_of(request))
    return response


def already_signed_in_handler(request: Request[Any, Any, Any], _: AlreadySignedIn) -> Response[Any]:
    """Signed-in users have no business on the sign-in page: take them into the app."""
    return see_other(request, LANDING_PATH)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    LoginRequired: login_required_handler,
    SudoRequired: sudo_required_handler,
    AlreadySignedIn: already_signed_in_handler,
}
"""Registered by `create_app`."""
