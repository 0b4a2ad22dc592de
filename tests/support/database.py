"""A real PostgreSQL for the tests, built by running the Alembic migrations.

DATABASE_URL names the server to use (CI points it at the machine's PostgreSQL); without it the
embedded server under `.dev/pg` is started. Tests never touch the database DATABASE_URL names:
they create `<name>_test` next to it (or TEST_DATABASE_NAME), drop and rebuild it once per run,
and empty every table before each test that asks for `db`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from alembic import command
from alembic.config import Config
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.auth.core.orgs import ensure_builtin_roles
from app.models import metadata
from app.settings import Settings
from scripts.embedded_pg import database_name, ensure_database, start_embedded_server, with_database
from tests.support.dns_server import DnsServer
from tests.support.features import feature_settings

TEST_SECRET = "test-secret-key-" + "x" * 40
# The queue name of this test process. Tests that need a queue of their own name it
# `f"{TEST_QUEUE}-purpose"`, so the cleanup below (which a parallel worker runs too) only ever
# forgets this process's jobs on a shared Redis.
TEST_QUEUE = f"gatehouse-test-{os.getpid()}"
# SAQ's bookkeeping tables survive between tests; its job rows do not.
QUEUE_TABLES = ("saq_jobs", "saq_stats")


def server_url() -> str:
    """URL of the PostgreSQL server the tests run against."""
    return os.environ.get("DATABASE_URL") or start_embedded_server()


def scratch_database_name(url: str, suffix: str = "test") -> str:
    """`<name>_test` beside the configured database, or TEST_DATABASE_NAME.

    Under pytest-xdist each worker gets its own (`<name>_test_gw0`, ...), so workers never share
    the tables they empty before each test.
    """
    explicit = os.environ.get("TEST_DATABASE_NAME")
    if explicit:
        name = explicit if suffix == "test" else f"{explicit}_{suffix}"
    else:
        base = database_name(url) if os.environ.get("DATABASE_URL") else "gatehouse"
        base = base.removesuffix("_test") or "gatehouse"
        name = f"{base}_{suffix}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}_{worker}" if worker else name


@contextmanager
def database_env(url: str) -> Iterator[None]:
    """Point DATABASE_URL at `url` for code (Alembic) that reads it from the environment."""
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


def alembic_config() -> Config:
    """The project's Alembic configuration."""
    return Config("alembic.ini")


def fresh_database(suffix: str = "test") -> str:
    """Drop and recreate a scratch database, migrate it to head, return its URL."""
    server = server_url()
    name = scratch_database_name(server, suffix)
    ensure_database(with_database(server, "postgres"), name, recreate=True)
    url = with_database(server, name)
    migrate(url, "heads")
    return url


def migrate(url: str, revision: str, *, downgrade: bool = False) -> None:
    """Run Alembic against `url`. In a thread: migrations run their own event loop."""

    def run() -> None:
        with database_env(url):
            (command.downgrade if downgrade else command.upgrade)(alembic_config(), revision)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test app: test mode, mailbox backend, fast retries, no `.env`."""
    values: dict[str, object] = {
        "app_env": "test",
        "database_url": database_url,
        "base_url": "http://testserver.local",
        "secret_key": TEST_SECRET,
        "mail_backend": "mailbox",
        "mail_retry_delay": 0.2,
        "saq_redis_url": os.environ.get("SAQ_REDIS_URL") or None,
        "saq_queue_name": TEST_QUEUE,
        "log_level": os.environ.get("TEST_LOG_LEVEL", "WARNING"),
        "saq_shutdown_grace": 0,
        **feature_settings(),  # GATEHOUSE_FEATURES (tests/support/features.py)
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def database_url() -> str:
    """The migrated test database, rebuilt once per test run."""
    return fresh_database()


@pytest.fixture(scope="session")
def settings(database_url: str, dns_server: DnsServer) -> Settings:
    """Settings of the app under test (domain checks ask the test DNS server, never the internet)."""
    return make_settings(
        database_url, dns_nameservers=["127.0.0.1"], dns_port=dns_server.port, dns_timeout=1.0
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database for fixtures and assertions."""
    engine = create_async_engine(settings.sqlalchemy_url, pool_size=5)
    yield engine
    await engine.dispose()


async def empty_all_tables(engine: AsyncEngine) -> None:
    """Remove every row the app or its queue wrote, keeping the schema."""
    async with engine.begin() as conn:
        existing = set(
            (
                await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            ).scalars()
        )
        tables = [t.name for t in metadata.sorted_tables if t.name in existing]
        tables += [t for t in QUEUE_TABLES if t in existing]
        if tables:
            # Replica mode skips the audit log's append-only trigger (the tests run as a superuser).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            if "org_roles" in existing:
                await ensure_builtin_roles(conn)  # schema data the migration put there


async def empty_test_queues(redis_url: str | None) -> None:
    """With the Redis queue, forget the jobs this process's earlier tests left behind (`TEST_QUEUE*`)."""
    if not redis_url:
        return
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(f"saq:*{TEST_QUEUE}[:-]*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def db(engine: AsyncEngine, settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on an emptied test database (and job queue): each test starts from nothing at all."""
    await empty_all_tables(engine)
    await empty_test_queues(settings.saq_redis_url)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session
