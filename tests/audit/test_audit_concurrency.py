"""The audit chain under concurrent writers in two server processes: unbroken, and nothing missing.

A real Granian server with two worker processes takes 200 failed sign-ins, many at a time. Each one
writes an `auth.login.failed` event in its own transaction; the two processes share nothing but
the database, so only the chain's advisory lock keeps their events in one line. Afterwards
`litestar audit verify` (the operator's command, as a subprocess) must find the chain intact, and
every request must have left exactly one event: each came from its own address (through the
trusted proxy), and each address is in the log once.

The requests are kept on a fixed set of keep-alive connections, and the test checks that both
worker processes hold some of them, so both really wrote.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import AuditEvent
from app.settings import Settings
from tests.auth.test_sign_in_storm import GranianServer
from tests.support.database import TEST_SECRET

pytestmark = pytest.mark.heavy(seconds=30)

REQUESTS = 200
CONNECTIONS = 16  # requests in flight at once, over this many keep-alive connections
STORM_TIMEOUT = 20.0
BOTH_READY_WITHIN = 20.0
CSRF_FIELD = re.compile(r'name="_csrf_token"\s+value="([^"]+)"')


def address(n: int) -> str:
    return f"10.88.{n // 250}.{n % 250 + 1}"


def connections_per_worker(server: GranianServer) -> dict[int, int]:
    """Established client connections on the server's port, per worker process."""
    port = int(server.url.rsplit(":", 1)[1])
    counts = {}
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            sockets = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        counts[child.pid] = sum(
            1 for s in sockets if s.status == psutil.CONN_ESTABLISHED and s.laddr and s.laddr.port == port
        )
    return counts


def run_verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": TEST_SECRET,
    }
    return subprocess.run(
        [".venv/bin/litestar", "--app", "app.asgi:create_app", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def two_workers(database_url: str, db: AsyncSession, tmp_path: Path) -> GranianServer:
    server = GranianServer.start(
        database_url,
        tmp_path,
        workers=2,
        env={
            "DB_POOL_SIZE": "8",
            "DB_POOL_TIMEOUT": "10",
            "SECURITY_POLICY": "{}",
            "SAQ_IN_PROCESS_WORKER": "false",  # nothing here sends mail
            "SAQ_QUEUE_NAME": f"gatehouse-audit-test-{os.getpid()}",
        },
    )
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


async def client_on_both_workers(server: GranianServer) -> httpx.AsyncClient:
    """A client whose keep-alive connections are spread over both worker processes.

    /healthz answers as soon as one worker is up; until the other one is too, it takes every
    connection. So: open the connections, look where they landed, and try again until both hold some.
    """
    await server.wait_until_healthy()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    headers = {"origin": server.url, "sec-fetch-site": "same-origin"}
    deadline = time.monotonic() + BOTH_READY_WITHIN
    while True:
        client = httpx.AsyncClient(base_url=server.url, limits=limits, headers=headers, timeout=10)
        await asyncio.gather(*(client.get("/healthz") for _ in range(CONNECTIONS)))
        spread = connections_per_worker(server)
        if len(spread) == 2 and all(spread.values()):
            return client
        await client.aclose()
        if time.monotonic() > deadline:
            pytest.fail(f"the connections never reached both workers: {spread}\n{server.log()}")
        await asyncio.sleep(0.2)


async def test_two_server_processes_writing_at_once_keep_one_unbroken_chain_with_every_event(
    two_workers: GranianServer, settings: Settings, db: AsyncSession
) -> None:
    client = await client_on_both_workers(two_workers)
    try:
        page = await client.get("/login")
        found = CSRF_FIELD.search(page.text)
        assert found, "no _csrf_token field on /login"
        token = html.unescape(found.group(1))  # one CSRF cookie and token serve every POST

        async def fail_to_sign_in(n: int) -> int:
            data = {
                "email": f"nobody-{n:03d}@example.com",
                "password": "not a password",
                "_csrf_token": token,
            }
            response = await client.post("/login", data=data, headers={"x-forwarded-for": address(n)})
            return response.status_code

        started = time.monotonic()
        statuses = await asyncio.wait_for(
            asyncio.gather(*(fail_to_sign_in(n) for n in range(REQUESTS))), STORM_TIMEOUT
        )
        seconds = time.monotonic() - started
        per_worker = connections_per_worker(two_workers)
    finally:
        await client.aclose()

    two_workers.stop()  # so its log is complete
    log = two_workers.log()
    assert Counter(statuses) == {422: REQUESTS}, f"{Counter(statuses)}\n{log}"
    assert "Traceback" not in log, log
    assert len(per_worker) == 2, per_worker
    assert all(count > 0 for count in per_worker.values()), f"one process served everything: {per_worker}"

    rows = await db.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action))
    per_action = dict(rows.all())
    assert per_action == {"auth.login.failed": REQUESTS}, per_action
    addresses = Counter((await db.scalars(select(AuditEvent.ip_address))).all())
    assert addresses == Counter(address(n) for n in range(REQUESTS)), "an event is missing or doubled"
    seqs = (await db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all()
    assert len(set(seqs)) == REQUESTS

    result = await asyncio.to_thread(run_verify, settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{REQUESTS} events checked, OK" in result.stdout
    print(f"{REQUESTS} audited requests in {seconds:.2f} s over {per_worker}")
