"""A body that stops arriving gets 408 and `Connection: close` once REQUEST_BODY_TIMEOUT has passed.

The app is called straight through ASGI here, because a test client hands the app the whole body
at once. tests/test_serve_timeouts.py does the same over a real socket against Granian.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
from app.web.slow_clients import BodyDeadlineMiddleware, RequestBodyTimeout
from tests.support.web import BASE_URL

DEADLINE = 0.3  # seconds


@pytest.fixture
async def impatient_app(settings: Settings, db: AsyncSession) -> AsyncIterator[Litestar]:
    """The app with a short body deadline, its lifespan running."""
    app = create_app(settings.model_copy(update={"request_body_timeout": DEADLINE}))
    async with AsyncTestClient(app=app, base_url=BASE_URL):
        yield app


def post_scope(path: str, content_length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(content_length).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }


async def call(app: Any, scope: dict[str, Any], receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def stalls_after(first: bytes) -> Receive:
    """A client that sends `first` and then nothing more (nor goes away)."""
    chunks = [first]

    async def receive() -> Any:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


async def test_a_body_that_stops_arriving_gets_408_and_the_connection_closed(
    impatient_app: Litestar,
) -> None:
    started = time.monotonic()
    sent = await asyncio.wait_for(
        call(impatient_app, post_scope("/demo", 1000), stalls_after(b"message=hel")), DEADLINE + 5
    )
    elapsed = time.monotonic() - started
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 408
    headers = dict(start["headers"])
    assert headers[b"connection"] == b"close"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"<h1>Request timeout</h1>" in body
    assert DEADLINE <= elapsed < DEADLINE + 2


# --- the middleware alone ----------------------------------------------------------------------


def reader(after_body: float = 0.0) -> tuple[Any, list[Any]]:
    """An app that reads the whole body, then (optionally later) listens for the disconnect."""
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if not message.get("more_body", False):
                break
        await asyncio.sleep(after_body)
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})

    return app, seen


def client_sends(*chunks: bytes, pause: float = 0.0) -> Receive:
    queue = list(chunks)

    async def receive() -> Any:
        if not queue:
            return {"type": "http.disconnect"}
        await asyncio.sleep(pause)
        body = queue.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    return receive


async def test_a_body_in_time_and_the_wait_for_disconnect_after_it_are_left_alone() -> None:
    app, seen = reader(after_body=DEADLINE * 2)  # listens for the disconnect after the deadline
    middleware = BodyDeadlineMiddleware(app, seconds=DEADLINE)
    sent = await call(middleware, {"type": "http"}, client_sends(b"a", b"b", pause=0.01))
    assert [m.get("body") for m in seen] == [b"a", b"b", None]
    assert seen[-1]["type"] == "http.disconnect"
    assert sent[0]["status"] == 200
    assert b"connection" not in dict(sent[0]["headers"])


async def test_a_late_body_keeps_failing_even_if_the_first_timeout_is_swallowed() -> None:
    attempts: list[str] = []

    async def swallowing(scope: Scope, receive: Receive, send: Send) -> None:
        for _ in range(2):
            try:
                await receive()
                await receive()
            except RequestBodyTimeout:
                attempts.append("408")

    middleware = BodyDeadlineMiddleware(swallowing, seconds=DEADLINE)
    started = time.monotonic()
    await call(middleware, {"type": "http"}, stalls_after(b"x"))
    assert attempts == ["408", "408"]
    assert time.monotonic() - started < DEADLINE * 2, "the second read must not wait again"
