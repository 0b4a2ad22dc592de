"""Walk the route table: every unsafe route demands CSRF, no GET changes data [80][81].

Routes are enumerated from the app itself, so a route added later is covered without editing this
file.
"""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import metadata
from tests.support.accounts import Accounts
from tests.support.web import BASE_URL, WebClient

BROWSERLESS = ("/api/", "/healthz")


def concrete(path: str) -> str:
    """A requestable path for a route template (any UUID or text for its parameters)."""
    path = re.sub(r"\{[^}]+:uuid\}", "00000000-0000-0000-0000-000000000000", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def routes(app: Litestar, method: str) -> list[str]:
    paths = {
        concrete(route.path)
        for route in app.routes
        if method in getattr(route, "methods", set()) and not route.path.startswith(BROWSERLESS)
    }
    return sorted(p for p in paths if not p.startswith("/static"))


def unsafe_routes(app: Litestar) -> list[str]:
    return routes(app, "POST")


async def test_there_are_unsafe_routes_to_check(app: Litestar) -> None:
    assert len(unsafe_routes(app)) >= 20


async def test_every_unsafe_route_refuses_a_request_without_a_csrf_token(
    app: Litestar, web: WebClient
) -> None:
    await web.get("/")
    for path in unsafe_routes(app):
        response = await web.request("POST", path, data={"x": "1"}, headers={"origin": BASE_URL})
        assert response.status_code == 403, path


async def test_every_unsafe_route_refuses_a_token_from_another_browser(app: Litestar, web: WebClient) -> None:
    other = web.other_browser()
    await other.get("/")
    stolen = other.csrf_token
    await web.get("/")
    for path in unsafe_routes(app):
        response = await web.request("POST", path, data={"_csrf_token": stolen}, headers={"origin": BASE_URL})
        assert response.status_code == 403, path


async def test_every_unsafe_route_refuses_cross_site_requests_even_with_a_valid_token(
    app: Litestar, web: WebClient
) -> None:
    await web.get("/")
    for path in unsafe_routes(app):
        cross_site = await web.submit(path, {}, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 403, path
        foreign = await web.request(
            "POST", path, data={"_csrf_token": web.csrf_token}, headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403, path


async def snapshot(db: AsyncSession) -> dict[str, tuple[int, str]]:
    """Row count and newest update per table."""
    state = {}
    for table in metadata.sorted_tables:
        stamp = "max(updated_at)" if "updated_at" in table.c else "NULL"
        row = (await db.execute(text(f"SELECT count(*), {stamp}::text FROM {table.name}"))).one()  # noqa: S608
        state[table.name] = (row[0], row[1] or "")
    return state


@pytest.mark.parametrize("signed_in", [False, True])
async def test_no_get_request_changes_the_database(
    app: Litestar, web: WebClient, accounts: Accounts, db: AsyncSession, signed_in: bool
) -> None:
    await accounts.create()
    if signed_in:
        await accounts.login(web)
    await web.get("/")
    before = await snapshot(db)
    for path in routes(app, "GET"):
        await web.get(path)
    after = await snapshot(db)
    assert after == before
