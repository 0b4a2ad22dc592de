"""A request's body must arrive in time: a client that dribbles it gets 408 and loses the connection.

Granian times the reading of headers (`--http1-header-read-timeout`, set by `make serve`) but has
no timeout for the body: a client that sends its headers and then a byte a second holds its
connection, a backpressure slot of the worker and the request's task for as long as it likes.
`BodyDeadlineMiddleware` gives the whole body `REQUEST_BODY_TIMEOUT` seconds from the moment the
request reaches the app. Past that, reading the body raises `RequestBodyTimeout` (a 408, rendered
like any error page) and every later read raises it again, so code that swallows the first one
cannot go on with half a body. The 408 goes out with `Connection: close`; Granian then closes the
connection without reading the rest.

Only reads of the body are timed. Once the body is complete, `receive` waits for the client to go
away (streaming responses listen for that), and that wait is left alone.
See docs/deployment.md#timeouts-and-slow-clients.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_408_REQUEST_TIMEOUT

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

__all__ = ("BodyDeadlineMiddleware", "RequestBodyTimeout")


class RequestBodyTimeout(HTTPException):
    """The request's body did not arrive within the deadline."""

    status_code = HTTP_408_REQUEST_TIMEOUT
    detail = "Request body timeout"


class BodyDeadlineMiddleware:
    """ASGI middleware: the body must be complete within `seconds` of the request's arrival."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_complete = False
        too_late = False

        async def receive_in_time() -> ReceiveMessage:
            nonlocal body_complete, too_late
            if too_late:
                raise RequestBodyTimeout()
            if body_complete:
                return await receive()
            timeout = asyncio.timeout_at(deadline)
            try:
                async with timeout:
                    message = await receive()
            except TimeoutError:
                if not timeout.expired():
                    raise
                too_late = True
                raise RequestBodyTimeout() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def send_and_close_if_late(message: Message) -> None:
            if too_late and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_in_time, send_and_close_if_late)
