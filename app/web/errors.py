"""Error pages: every HTTP error is a real page, an htmx fragment, or JSON for the API.

A full page keeps the site's layout and navigation. For htmx requests the error is shown in the
page's alert region instead of being swapped into whatever element asked (htmx 4 swaps error
responses by default). Unexpected exceptions are logged with their traceback and answered with a
generic 500 page: no stack trace or exception text ever reaches the client (requirement 95).

The router's own errors (no such page: 404; no such method: 405) happen before any middleware
runs, so their page knew neither the user nor the CSRF token: a signed-in user saw "Sign in".
`know_who_is_asking` runs first for those and fills both in from the request's cookies.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

import structlog
from litestar import MediaType, Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.auth.core.middleware import SKIP_PREFIXES
from app.auth.core.session_store import resume_session
from app.auth.core.toolkit import security_of
from app.features import enabled
from app.web.htmx import is_htmx

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import Scope

log = structlog.get_logger(__name__)

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
DEDICATED_PAGES = frozenset({403, 404, 429, 500})
# Headers of an HTTPException that may be passed on to the client.
_FORWARDED_HEADERS = ("retry-after", "allow", "www-authenticate")


async def know_who_is_asking(_: Exception, scope: Scope) -> None:
    """After-exception hook: the page for a router error knows the user and the CSRF token.

    Only for errors raised before a route matched (there is no `route_handler` in the scope, so no
    middleware ran). The session is resumed from its cookie exactly as the authentication
    middleware resumes it. A remember-me cookie is not used: restoring from it rotates the cookie,
    and this answer cannot hand out the new one. The CSRF token is the cookie's, as the CSRF
    middleware does for a GET. If anything fails, the page is simply shown as to a visitor.
    """
    present = scope.keys()  # (the scope's type says these keys are always there: they are not)
    if (
        scope["type"] != ScopeType.HTTP
        or "route_handler" in present
        or "user" in present
        or scope["path"].startswith(SKIP_PREFIXES)
    ):
        return
    app: Litestar = scope["litestar_app"]
    request: Request[Any, Any, Any] = app.request_class(scope)
    if app.csrf_config is not None:
        state = ScopeState.from_scope(scope)
        csrf_cookie = request.cookies.get(app.csrf_config.cookie_name)
        if csrf_cookie and not isinstance(state.csrf_token, str):
            state.csrf_token = csrf_cookie
    security = security_of(app)
    token = request.cookies.get(security.cookies.session)
    if not token:
        return
    try:
        engine = app.state.db_config.get_engine().execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            resumed = await resume_session(conn, token, security)
    except Exception:  # the error page must render even when the database does not answer
        log.warning("error_page.session_unknown", path=scope["path"], exc_info=True)
        return
    if resumed is not None:
        scope["auth"], scope["user"] = resumed


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Render an expected HTTP error (404, 403, 429, ...)."""
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in _FORWARDED_HEADERS}
    return error_response(request, exc.status_code, headers=headers)


def busy_database_handler(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    """No database connection came free in time: a short "try again", not a crash."""
    log.warning("db.pool_timeout", path=request.url.path)
    return error_response(request, HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"})


def database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database is unreachable (down, restarting, a dropped connection): a quick 503, not a 500.

    SQLAlchemy marks the pool's connections invalid when it sees a disconnect, so once the server
    is back the next requests simply open new ones: nothing needs restarting.
    """
    if _is_unreachable(exc):
        log.warning("db.unavailable", path=request.url.path, error=type(exc).__name__)
        return error_response(request, HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})
    if _is_text_postgres_refuses(exc):
        log.info("request.text_refused_by_database", path=request.url.path)
        return error_response(request, HTTP_400_BAD_REQUEST)
    return unexpected_error_handler(request, exc)


# PostgreSQL text holds no NUL character (22021), nor one the database encoding lacks (22P05). Such a
# value came from the request (`?to=a%00`): no handler can store or look it up, so it is the
# client's bad request, wherever it reached the database.
_REFUSED_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _is_text_postgres_refuses(exc: Exception) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _REFUSED_TEXT_SQLSTATES


def _is_unreachable(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    # Connecting fails with a plain OSError (refused, or no socket file while the server is down);
    # only one raised inside the database driver means the database.
    return isinstance(exc, OSError) and _raised_in(exc, "asyncpg")


def _raised_in(exc: BaseException, package: str) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f"{package}/" in frame.filename.replace("\\", "/") for frame in frames)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Log an unhandled exception and render the generic 500 page."""
    log.exception("request.unhandled_error", method=request.method, path=request.url.path)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR)


def error_response(
    request: Request[Any, Any, Any], status: int, headers: dict[str, str] | None = None
) -> Response[Any]:
    """The error answer for `status` in the form the client asked for."""
    title = TITLES.get(status, "Error")
    # --- feature: api
    if request.url.path.startswith("/api/") and enabled(request.app.state.settings, "api"):
        from app.api.problems import problem_response

        return problem_response(request, status, headers=headers)  # RFC 9457 bodies for the whole API
    # --- end feature: api
    if _wants_json(request):
        return Response(
            {"status": status, "error": title}, status_code=status, headers=headers, media_type=MediaType.JSON
        )
    context = {"status": status, "title": title}
    if is_htmx(request):
        # Show the message in the page's alert region, whatever element asked.
        hx = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", "Vary": "HX-Request"}
        return Template(
            "errors/_error.html", context=context, status_code=status, headers={**(headers or {}), **hx}
        )
    page = f"errors/{status}.html" if status in DEDICATED_PAGES else "errors/error.html"
    return Template(page, context=context, status_code=status, headers=headers)


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    accept = request.headers.get("accept", "")
    return path.startswith(("/api/", "/healthz", "/dev/mailbox/messages.json")) or (
        "application/json" in accept and "text/html" not in accept
    )
