"""HEAD answers like GET without the body (RFC 9110, section 9.3.2).

Litestar routes a HEAD request only to handlers declared for HEAD, so every page answered 405.
`HeadAsGetMiddleware` wraps the whole app: it hands a HEAD request to the app as a GET, passes the
start of the response through untouched (status and every header, `Content-Length` included)
and drops the body. Any other method, the unsafe ones above all, passes through as it came:
nothing here runs for them.

The method is changed in the scope itself, not in a copy, because the request's database session
lives in the scope and the hook that closes it sees the scope Litestar was called with. It is set
back to HEAD when the app returns, so the request log records what the client sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ("HeadAsGetMiddleware",)


class HeadAsGetMiddleware:
    """ASGI middleware: serve HEAD with the GET handler, headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a chunk of the body: not for a HEAD request
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        scope["method"] = "GET"
        try:
            await self.app(scope, receive, send_headers_only)
        finally:
            scope["method"] = "HEAD"
