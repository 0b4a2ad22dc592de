"""HeadAsGetMiddleware on its own: HEAD reaches the app as GET and loses only its body; nothing else changes.

The route table test (test_route_table.py) checks HEAD on every page of the real app.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.types import Message, Receive, Scope, Send

from app.web.head import HeadAsGetMiddleware

START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}


class Inner:
    """An app that notes the method it was called with and answers a 10-byte body in two chunks."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.methods.append(scope["method"])
        await send(dict(START))  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b"world", "more_body": False})


async def call(method: str) -> tuple[list[str], list[Message], Scope]:
    inner = Inner()
    sent: list[Message] = []
    scope: Any = {"type": "http", "method": method, "path": "/", "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await HeadAsGetMiddleware(inner)(scope, receive, send)
    return inner.methods, sent, scope


async def test_head_is_served_as_get_with_its_headers_and_no_body() -> None:
    methods, sent, scope = await call("HEAD")
    assert methods == ["GET"]
    assert sent == [START, {"type": "http.response.body", "body": b"", "more_body": False}]
    assert scope["method"] == "HEAD", "the request log must still see what the client sent"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_other_method_passes_through_untouched(method: str) -> None:
    methods, sent, scope = await call(method)
    assert methods == [method]
    assert [m.get("body") for m in sent] == [None, b"hello", b"world"]
    assert scope["method"] == method
