"""The two ways a handler answers: render a page (or, for htmx, just its fragment) or redirect.

`render` picks the fragment for htmx requests and the whole page otherwise, so a page and its
fragment share one template (`name.html` includes `_name.html`). `see_other` answers a form POST
with a 303 for a plain browser and with `HX-Redirect` for htmx, which would otherwise follow the
redirect inside fetch() and swap a whole page into a fragment.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Template

from app.web.flash import carry_flashes, clear_carried

__all__ = ("is_htmx", "render", "see_other")

VARY = {"Vary": "HX-Request"}


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """True for a request htmx made to swap part of the page (not a history restore)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"


def render(
    request: Request[Any, Any, Any],
    page: str,
    *,
    fragment: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """Render `page`, or only `fragment` (with pending flash messages) when htmx asked."""
    all_headers = {**VARY, **(headers or {})}
    if fragment is not None and is_htmx(request):
        response = Template(
            "partials/_htmx_response.html",
            context={**context, "fragment_template": fragment},
            status_code=status,
            headers=all_headers,
        )
    else:
        response = Template(page, context=context, status_code=status, headers=all_headers)
    clear_carried(request, response)
    return response


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """Redirect after a POST: 303 for browsers, `HX-Redirect` for htmx. `url` must be app-relative."""
    if not url.startswith("/") or url.startswith("//"):
        raise ValueError(f"see_other only redirects within the app, not to {url!r}")
    response: Response[Any] = ClientRedirect(url) if is_htmx(request) else Redirect(url, status_code=303)
    carry_flashes(request, response)
    return response
