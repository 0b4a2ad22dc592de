"""A real local webhook receiver for the API tests, the docs' verification snippet, and adding an
endpoint through its page."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.web import WebClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = re.compile(r"data-new-secret>(whsec_[^<]+)<")


def receiver_snippet() -> Any:
    """`verify_webhook` exactly as docs/webhooks.md prints it."""
    text = DOC.read_text()
    code = text.split("<!-- receiver-snippet:start -->")[1].split("<!-- receiver-snippet:end -->")[0]
    code = code.strip().removeprefix("```python").removesuffix("```")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_webhook"]


@dataclass
class Receiver:
    """A local HTTP server that records what it is sent and answers with `status`."""

    url: str
    status: int = 200
    location: str | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        for _ in range(int(timeout / 0.05)):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def add_endpoint(web: WebClient, url: str, events: list[str]) -> str:
    await web.get("/o/acme/webhooks")
    response = await web.submit("/o/acme/webhooks", {"url": url, "events": events})
    assert response.status_code == 201, response.text[:400]
    match = SECRET.search(response.text)
    assert match is not None
    return match.group(1)
