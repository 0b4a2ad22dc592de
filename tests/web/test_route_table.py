"""Walk the route table: every unsafe route demands CSRF, no GET changes data [80][81], every GET
page answers HEAD like GET without a body, every POST refuses a body over the policy's limit.

Routes are enumerated from the app itself, so a route added later is covered without editing this
file.
"""

from __future__ import annotations

import re
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.mail.models import MailboxMessage
from app.mail.previews import SAMPLES
from app.models import metadata
from tests.support.accounts import Accounts
from tests.support.web import BASE_URL, WebClient

pytestmark = pytest.mark.heavy(seconds=35)

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


# --- HEAD ---------------------------------------------------------------------------------------

SAMPLE_MESSAGE_ID = UUID("0190a0a0-0000-7000-8000-000000000001")
# Routes with path parameters get a value that finds something, so HEAD is checked on the real
# page and not only on its 404 (the other parameters get `concrete()`'s placeholders).
SAMPLE_PATHS = {
    "/dev/mailbox/{message_id:uuid}": f"/dev/mailbox/{SAMPLE_MESSAGE_ID}",
    "/dev/mailbox/{message_id:uuid}/html": f"/dev/mailbox/{SAMPLE_MESSAGE_ID}/html",
    "/dev/mail-previews/{name:str}": f"/dev/mail-previews/{sorted(SAMPLES)[0]}",
    "/dev/mail-previews/{name:str}/html": f"/dev/mail-previews/{sorted(SAMPLES)[0]}/html",
}
# Differ between any two requests: the request id and the CSP's per-request nonce.
PER_REQUEST_HEADERS = frozenset({"x-request-id", "content-security-policy"})


def get_paths(app: Litestar) -> list[str]:
    """Every GET route with sample values for its parameters, plus a static file."""
    paths = {
        SAMPLE_PATHS.get(route.path, concrete(route.path))
        for route in app.routes
        if "GET" in getattr(route, "methods", set()) and not route.path.startswith("/static")
    }
    return [*sorted(paths), "/static/js/app.js"]


def record_bodies(app: Litestar) -> list[bytes]:
    """The body bytes the app sends for each request from now on (the test client drops HEAD's)."""
    bodies: list[bytes] = []
    inner = app.asgi_handler

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await inner(scope, receive, keep)
        finally:
            bodies.append(b"".join(chunks))

    app.asgi_handler = recording
    return bodies


def comparable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in PER_REQUEST_HEADERS)


@pytest.mark.parametrize("signed_in", [False, True])
async def test_every_get_route_answers_head_like_get_without_a_body(
    app: Litestar, web: WebClient, accounts: Accounts, db: AsyncSession, signed_in: bool
) -> None:
    await accounts.create()
    if signed_in:
        await accounts.login(web)
    db.add(
        MailboxMessage(
            id=SAMPLE_MESSAGE_ID,
            message_id="<sample@example.com>",
            to_addr="ada@example.com",
            from_addr="app@example.com",
            subject="Sample",
            text_body="Hello",
            html_body="<p>Hello</p>",
        )
    )
    await db.commit()
    await web.get("/")
    bodies = record_bodies(app)
    paths = get_paths(app)
    assert len(paths) >= 20
    for path in paths:
        get = await web.request("GET", path, follow_redirects=False)
        head = await web.request("HEAD", path, follow_redirects=False)
        get_body, head_body = bodies[-2:]
        assert head.status_code == get.status_code, path
        assert comparable_headers(head) == comparable_headers(get), path
        assert head_body == b"", f"HEAD {path} sent a body"
        if get.status_code == 200:
            assert get_body, f"GET {path} sent no body"
            assert int(head.headers["content-length"]) == len(get_body), path
    # The request's database session was closed after every HEAD, as after every GET.
    assert app.state.db_config.get_engine().pool.checkedout() == 0


async def test_head_on_a_post_only_route_is_refused_like_get(web: WebClient) -> None:
    get = await web.request("GET", "/logout")
    head = await web.request("HEAD", "/logout")
    assert get.status_code == head.status_code == 405
    assert head.headers.get("allow") == get.headers.get("allow")


# --- body limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("signed_in", [False, True])
async def test_every_post_route_refuses_a_body_over_the_policy_limit(
    app: Litestar, web: WebClient, accounts: Accounts, signed_in: bool
) -> None:
    await accounts.create()
    if signed_in:
        await accounts.login(web)
    await web.get("/")
    limit = app.state.security.policy.request_body_max_bytes
    # Every POST route, browserless ones too: the limit is not a CSRF matter.
    paths = sorted(
        {concrete(route.path) for route in app.routes if "POST" in getattr(route, "methods", set())}
    )
    assert len(paths) >= 20
    for path in paths:
        response = await web.submit(path, {"message": "x" * (limit + 1)})
        if path.startswith("/api/"):
            # The bearer-token API refuses a caller without a token before reading any body.
            assert response.status_code in (401, 413), path
            continue
        assert response.status_code == 413, path
        just_under = await web.submit(path, {"message": "x" * (limit - 1000)})
        assert just_under.status_code != 413, path
