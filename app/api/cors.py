"""CORS for `/api/` only, from a fixed allowlist (`API_CORS_ORIGINS`, empty by default) [83].

Pages and session routes never answer with `Access-Control-Allow-Origin`: this wrapper looks only
at `/api/` paths. An origin on the list gets it echoed back (with `Vary: Origin`), never `*` and
never `Allow-Credentials`, since the API takes bearer tokens, not cookies. A preflight from any
other origin is refused with 403 and no CORS headers, so the browser blocks the call.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

__all__ = ("ApiCorsMiddleware",)

_ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
_ALLOWED_HEADERS = "Authorization, Content-Type"
_EXPOSED_HEADERS = (
    "Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After"
)


class ApiCorsMiddleware:
    """ASGI wrapper answering CORS for `/api/` requests from the allowlisted origins."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origin.rstrip("/") for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if scope.get("method") == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(origin, send)
            return
        if origin not in self.origins:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableScopeHeaders.from_message(message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Expose-Headers"] = _EXPOSED_HEADERS
                out.add("Vary", "Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, send: Send) -> None:
        if origin in self.origins:
            status, body = 204, b""
            headers: list[tuple[bytes, bytes]] = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", _ALLOWED_METHODS.encode()),
                (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
                (b"vary", b"Origin"),
            ]
        else:
            status = 403
            body = json.dumps(
                {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "Origin not allowed."}
            ).encode()
            headers = [(b"content-type", b"application/problem+json"), (b"vary", b"Origin")]
        headers.append((b"content-length", str(len(body)).encode()))
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})
