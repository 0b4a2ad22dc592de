"""The cross-site check reads the form without losing the body for the layers after it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Litestar, post
from litestar.enums import RequestEncodingType
from litestar.middleware import DefineMiddleware
from litestar.params import Body
from litestar.types import Message

from app.auth.core.web_security import CrossSiteRequestMiddleware

ORIGIN = "http://testserver.local"


@post("/form")
async def echo(data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]) -> str:
    return str(sorted(data))


def tiny_app() -> Litestar:
    return Litestar([echo], middleware=[DefineMiddleware(CrossSiteRequestMiddleware, own_origin=ORIGIN)])


async def post_once(app: Litestar, content_type: bytes, body: bytes) -> tuple[int, int]:
    """POST `body` as a server would: one body message, then "the client left" if asked again.

    Returns the status and how many times the app asked for the body after it had ended.
    """
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/form",
        "raw_path": b"/form",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", content_type),
            (b"origin", ORIGIN.encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver.local", 80),
    }
    sent: list[Message] = []
    reads = 0

    async def receive() -> Any:
        nonlocal reads
        reads += 1
        if reads == 1:
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), reads - 1


async def test_a_multipart_body_that_does_not_parse_is_a_400_not_a_wait_for_more_body() -> None:
    # Parsed straight from the stream, the failed multipart left nothing for the handler to read:
    # under a real server it waited for the client to go away, here it was told the client left.
    truncated = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc'
    status, reads_after_end = await post_once(tiny_app(), b"multipart/form-data; boundary=b", truncated)
    assert status == 400
    assert reads_after_end == 0


async def test_a_multipart_body_that_parses_still_reaches_the_handler() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc\r\n--b--\r\n'
    status, reads_after_end = await post_once(tiny_app(), b"multipart/form-data; boundary=b", body)
    assert status == 201
    assert reads_after_end == 0
