"""Requirement 92 by database grants: the app's own role runs the app but cannot rewrite the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg import sql
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.db_roles import app_role_statements, grant_app_role
from scripts.embedded_pg import plain_url, with_database
from tests.support.accounts import Accounts
from tests.support.database import fresh_database, make_settings, server_url
from tests.support.web import BASE_URL, WebClient

pytestmark = pytest.mark.timeout(120)


def as_user(url: str, user: str) -> str:
    """`url` with its user name replaced (no password: the test servers trust local connections)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


@pytest.fixture
async def app_role() -> AsyncIterator[tuple[str, str]]:
    """A migrated database of its own and a fresh login role granted what the app needs."""
    owner_url = fresh_database("roles")
    role = f"gatehouse_app_{uuid4().hex[:10]}"
    admin = plain_url(with_database(server_url(), "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        await grant_app_role(make_settings(owner_url).sqlalchemy_url, role)
        yield owner_url, role
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            name = urlsplit(owner_url).path.lstrip("/")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def run_as(engine: AsyncEngine, statement: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(statement))


async def test_the_app_runs_as_its_role_and_that_role_cannot_rewrite_the_audit_log(
    app_role: tuple[str, str],
) -> None:
    owner_url, role = app_role
    settings = make_settings(as_user(owner_url, role))
    app = create_app(settings, clock=FrozenClock())
    engine = create_async_engine(settings.sqlalchemy_url, pool_size=1)
    try:
        # The journeys work as the unprivileged role: registration, sign-in, a settings page, sign-out.
        async with AsyncTestClient(app=app, base_url=BASE_URL) as client, AsyncSession(engine) as db:
            web = WebClient(client)
            await web.get("/register")
            registered = await web.submit(
                "/register", {"email": "new@example.com", "password": "a long and unusual passphrase"}
            )
            assert registered.status_code == 303, registered.text[:300]
            accounts = Accounts(db=db, security=app.state.security)
            await accounts.create("ada@example.com")
            signer = web.other_browser()
            await accounts.login(signer, "ada@example.com")
            assert (await signer.get("/settings/sessions")).status_code == 200
            assert (await signer.submit("/logout")).status_code == 303
            events = await db.scalar(select(func.count()).select_from(AuditEvent))
        assert events is not None
        assert events >= 3

        for statement, refusal in (
            ("UPDATE audit_events SET outcome = 'failure'", "permission denied"),
            ("DELETE FROM audit_events", "permission denied"),
            ("TRUNCATE audit_events", "permission denied"),
            ("DROP TRIGGER audit_events_append_only ON audit_events", "must be owner"),
            ("ALTER TABLE audit_events DISABLE TRIGGER ALL", "must be owner"),
            ("DROP TABLE audit_events", "must be owner"),
            ("UPDATE alembic_version SET version_num = 'x'", "permission denied"),
        ):
            with pytest.raises(DBAPIError, match=refusal):
                await run_as(engine, statement)

        async with AsyncSession(engine) as db:
            assert await db.scalar(select(func.count()).select_from(AuditEvent)) == events
    finally:
        await engine.dispose()


def test_role_names_are_checked_before_they_reach_sql() -> None:
    assert 'TO "gatehouse_app"' in app_role_statements("gatehouse_app")[0]
    for bad in ('app"; DROP TABLE users; --', "App", "", "x" * 64, "a b"):
        with pytest.raises(ValueError, match="plain PostgreSQL name"):
            app_role_statements(bad)


async def test_a_superuser_or_a_missing_role_is_refused(engine: AsyncEngine) -> None:
    role = f"gatehouse_root_{uuid4().hex[:10]}"
    owner_url = engine.url.render_as_string(hide_password=False)
    with pytest.raises(ValueError, match="does not exist"):
        await grant_app_role(owner_url, role)
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE ROLE "{role}" SUPERUSER NOLOGIN'))
        await conn.commit()
    try:
        with pytest.raises(ValueError, match="superuser, and a superuser ignores every grant"):
            await grant_app_role(owner_url, role)
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP ROLE "{role}"'))
            await conn.commit()
