"""The rate-limit Redis goes down and comes back: sign-in fails closed meanwhile, nothing else stops.

The test starts a Redis server of its own and kills it for real (SIGKILL), then starts it again on
the same port. It needs the `redis-server` program (CI has it; elsewhere the test says so).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
from tests.support.web import BASE_URL, WebClient

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A throwaway redis-server on a fixed port, which the test can kill and start again."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server program (apt-get install redis-server)")
    server = RedisProcess(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


async def sign_in_attempt(web: WebClient) -> int:
    await web.get("/login")
    response = await web.submit("/login", {"email": "nobody@example.com", "password": "wrong password here"})
    return response.status_code


async def test_sign_in_fails_closed_while_redis_is_down_and_recovers_by_itself(
    settings: Settings, redis_server: RedisProcess, db: AsyncSession
) -> None:
    with_redis = settings.model_copy(
        update={"ratelimit_redis_url": f"redis://127.0.0.1:{redis_server.port}/0"}
    )
    app = create_app(with_redis)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        assert await sign_in_attempt(web) == 422  # counted in Redis, then the generic failure

        redis_server.kill()
        started = time.monotonic()
        refused = await web.submit(
            "/login", {"email": "nobody@example.com", "password": "wrong password here"}
        )
        assert refused.status_code == 429, "fail closed: no count, no sign-in"
        assert refused.headers["retry-after"]
        assert "Too many requests" in refused.text
        assert time.monotonic() - started < 10, "refused within the store's timeouts, not hung"
        home = await web.get("/")
        assert home.status_code == 200, "pages that count nothing keep working"

        redis_server.start()
        assert await sign_in_attempt(web) == 422, "counting again, with no restart of the app"
