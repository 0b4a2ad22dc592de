"""`make serve` cuts slow clients off: a real Granian with the Makefile's SERVE_TIMEOUTS, raw sockets.

- Headers sent a line a second: Granian closes the connection once its header timeout has passed.
- A body sent a byte a second: the app answers 408 once REQUEST_BODY_TIMEOUT (its default) has
  passed, and Granian closes the connection.
- HTTP/2 without TLS (which would escape the HTTP/1 header timeout) is refused at once.

The slow clients run at the same time, so the test takes about the longer of the two timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import Settings
from tests.support.database import TEST_SECRET
from tests.support.mail import free_port

pytestmark = pytest.mark.heavy(seconds=60)

ROOT = Path(__file__).resolve().parents[1]
GRANIAN = Path(sys.executable).parent / "granian"
STARTUP_TIMEOUT = 30.0
MARGIN = 5.0  # seconds past a timeout by which the connection must be gone


def serve_timeouts() -> list[str]:
    """The SERVE_TIMEOUTS flags of the Makefile, which `make serve` passes to Granian."""
    match = re.search(r"^SERVE_TIMEOUTS :?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile defines no SERVE_TIMEOUTS"
    return shlex.split(match.group(1))


def flag_value(flags: list[str], name: str) -> str:
    assert name in flags, f"SERVE_TIMEOUTS does not set {name}"
    return flags[flags.index(name) + 1]


FLAGS = serve_timeouts()
HEADER_TIMEOUT = int(flag_value(FLAGS, "--http1-header-read-timeout")) / 1000
BODY_TIMEOUT = float(Settings.model_fields["request_body_timeout"].default)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-10_000:] if self.log_path.exists() else ""


@pytest.fixture
def server(database_url: str, db: AsyncSession, tmp_path: Path) -> Iterator[Server]:
    """Gatehouse under Granian with `make serve`'s timeouts, in a process group of its own."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_BACKEND": "mailbox",
        "SAQ_QUEUE_NAME": f"gatehouse-timeouts-test-{os.getpid()}",
        "SAQ_SHUTDOWN_GRACE": "0",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REQUEST_BODY_TIMEOUT", None)  # the default is what is under test
    if not env.get("SAQ_REDIS_URL"):
        env.pop("SAQ_REDIS_URL", None)
    command = [str(GRANIAN), "--interface", "asgi", "--factory", "app.asgi:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log", *FLAGS]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=log, start_new_session=True
        )
    running = Server(port, process, log_path)
    try:
        yield running
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


async def wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"the server exited at startup:\n{server.log()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"/healthz did not answer 200 within {STARTUP_TIMEOUT:.0f} s:\n{server.log()}")


@dataclass(frozen=True)
class Outcome:
    """What a slow client got: the bytes the server sent before closing, and when it closed."""

    seconds: float
    answer: bytes


async def dribble(port: int, head: bytes, drip: bytes, give_up_after: float) -> Outcome:
    """Send `head`, then `drip` once a second until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    received = asyncio.create_task(reader.read())  # everything until the server closes
    try:
        writer.write(head)
        await writer.drain()
        while not received.done() and time.monotonic() - started < give_up_after:
            await asyncio.wait({received}, timeout=1.0)
            if not received.done():
                with contextlib.suppress(ConnectionError):
                    writer.write(drip)
                    await writer.drain()
        remaining = max(0.1, give_up_after - (time.monotonic() - started))
        try:
            answer = await asyncio.wait_for(received, remaining)
        except ConnectionError:
            answer = b""
        except TimeoutError:
            pytest.fail(f"the connection was still open after {give_up_after:.0f} s")
        return Outcome(time.monotonic() - started, answer)
    finally:
        received.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_slow_headers_and_a_slow_body_are_cut_off(server: Server) -> None:
    await wait_until_healthy(server)
    host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
    slow_headers = dribble(
        server.port, b"GET /login HTTP/1.1\r\n" + host, b"X-Slow: 1\r\n", HEADER_TIMEOUT + MARGIN
    )
    body_head = (
        b"POST /demo HTTP/1.1\r\n"
        + host
        + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nmessage="
    )
    slow_body = dribble(server.port, body_head, b"x", BODY_TIMEOUT + MARGIN)
    headers, body = await asyncio.gather(slow_headers, slow_body)

    assert headers.answer == b"" or headers.answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400")), (
        headers.answer[:200]
    )
    assert HEADER_TIMEOUT - 1 <= headers.seconds <= HEADER_TIMEOUT + MARGIN, headers

    assert body.answer.startswith(b"HTTP/1.1 408"), body.answer[:300]
    assert b"connection: close" in body.answer.lower()
    assert BODY_TIMEOUT - 1 <= body.seconds <= BODY_TIMEOUT + MARGIN, body

    async with httpx.AsyncClient(timeout=5) as client:  # and the server still serves
        assert (await client.get(f"http://127.0.0.1:{server.port}/login")).status_code == 200
    assert "Traceback" not in server.log(), server.log()


async def test_http2_without_tls_is_refused(server: Server) -> None:
    await wait_until_healthy(server)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(preface)
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(), MARGIN)
        except ConnectionError:
            answer = b""
        except TimeoutError:
            pytest.fail(f"an HTTP/2 connection was still open after {MARGIN:.0f} s")
        assert not answer.startswith(b"\x00"), "the server spoke HTTP/2"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
