"""Fuzz every GET and POST route of the route table: no hostile request ever gets a 5xx or a traceback.

The routes are read from the app, so a route added later is fuzzed without editing this file.
Each route gets FUZZ_EXAMPLES hypothesis examples (tests/support/fuzz.py draws them: hostile
path parameters, query strings, bodies, CSRF tokens, headers and cookies), from a signed-out and
from a signed-in browser. `make fuzz` runs the same test with many more examples.

Hypothesis runs in a worker thread and hands each request to the test's event loop, where the
app's test client lives; between two examples the rate-limit counters are emptied (so the
thousandth example still reaches its handler instead of a 429) and a session an example ended
(signing out, revoking it) is signed in again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import TrustedBrowser, WebAuthnCredential
from app.auth.core.tokens import token_digest
from app.mail.models import MailboxMessage
from app.mail.previews import SAMPLES
from tests.support.accounts import Accounts
from tests.support.fuzz import (
    JSON_NAMES,
    QUERY_NAMES,
    Browser,
    FuzzRequest,
    fuzz_requests,
    static_file_paths,
    template_field_names,
)
from tests.support.web import BASE_URL, WebClient

pytestmark = pytest.mark.heavy(seconds=150)

T = TypeVar("T")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
"""Examples per route and browser: a few in CI, thousands under `make fuzz`."""
REQUEST_TIMEOUT = 30.0
"""A request still unanswered after this long counts as a hang."""
TRACEBACK = "Traceback (most recent call last)"
FIELD_NAMES = (*template_field_names(), *JSON_NAMES)
STATIC_FILES = static_file_paths()

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The short CI run is the same every time; a long `make fuzz` run explores new ground.
    derandomize=EXAMPLES <= 50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)


def route_templates(app: Litestar, method: str) -> list[str]:
    """Every route path (with its `{name:type}` parameters) that answers `method`."""
    return sorted({route.path for route in app.routes if method in getattr(route, "methods", set())})


NOT_QUERY = frozenset({"request", "db_session", "data", "self", "state", "scope", "headers", "cookies"})


def query_names(app: Litestar, template: str) -> tuple[str, ...]:
    """The query parameters the route's handlers declare (twice: drawn more often), then those read by hand."""
    declared = sorted(
        {
            name
            for route in app.routes
            if route.path == template
            for handler in getattr(route, "route_handlers", ())
            for name in handler.parsed_fn_signature.parameters
            if name not in NOT_QUERY and f"{{{name}:" not in template
        }
    )
    return (*declared, *declared, *QUERY_NAMES)


def cookie_names(app: Litestar) -> tuple[str, ...]:
    """Every cookie the app reads (hostile values go into these, present or not)."""
    names = app.state.security.cookies
    ours = [getattr(names, f.name) for f in fields(names)]
    return (
        *ours,
        names.session.replace("session", "sudo-replay"),
        "flash",
        "theme",
        app.csrf_config.cookie_name,
    )


def disconnect_after_the_body(app: Litestar) -> None:
    """Once the body has been read, tell the app the client left, as a server does when it goes.

    The test client instead waits for the response, and a handler waiting for more body than was
    sent hangs the whole test; told the client left, it fails, and the fuzz reports the request.
    """
    inner = app.asgi_handler

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        ended = False

        async def receive_or_disconnect() -> Message:
            nonlocal ended
            if ended:
                return {"type": "http.disconnect"}
            message = await receive()
            ended = message["type"] == "http.request" and not message.get("more_body", False)
            return message

        await inner(scope, receive_or_disconnect, send)

    app.asgi_handler = handler


@dataclass
class Tally:
    """How the examples were answered (status codes per route)."""

    answers: Counter[int] = field(default_factory=Counter)
    past_csrf: int = 0
    valid_csrf: int = 0


class Fuzzer:
    """One browser (signed in or out) sending drawn requests to one app, the database kept sane between them."""

    def __init__(
        self, app: Litestar, web: WebClient, accounts: Accounts, db: AsyncSession, *, signed_in: bool
    ):
        self.app, self.web, self.accounts, self.db = app, web, accounts, db
        self.signed_in = signed_in
        self.loop = asyncio.get_running_loop()
        self.tally = Tally()
        self.known: dict[str, tuple[str, ...]] = {}

    async def start(self) -> None:
        """Make the account (and, signed in, things its pages list), then load a page for the CSRF token."""
        user = await self.accounts.create()
        now = self.accounts.security.clock.now()
        self.db.add(
            MailboxMessage(
                id=UUID("0190a0a0-0000-7000-8000-000000000001"),
                message_id="<sample@example.com>",
                to_addr="ada@example.com",
                from_addr="app@example.com",
                subject="Sample",
                text_body="Hello",
                html_body="<p>Hello</p>",
            )
        )
        if self.signed_in:
            self.db.add(
                WebAuthnCredential(
                    user_id=user.id, credential_id=b"\x05" * 16, public_key=b"k", name="Laptop"
                )
            )
            self.db.add(
                TrustedBrowser(
                    token_hash=secrets.token_bytes(32), user_id=user.id, expires_at=now + timedelta(days=30)
                )
            )
        await self.db.commit()
        if self.signed_in:
            await self.accounts.login(self.web.other_browser())  # a second session, to be listed and revoked
            await self.accounts.login(self.web)
        await self.web.get("/")
        ids = (
            await self.db.execute(
                text(
                    "SELECT id::text FROM auth_sessions UNION ALL SELECT id::text FROM webauthn_credentials "
                    "UNION ALL SELECT id::text FROM trusted_browsers UNION ALL SELECT id::text FROM dev_mailbox_messages"
                )
            )
        ).scalars()
        self.known = {"uuid": tuple(ids), "str": tuple(sorted(SAMPLES))}

    @property
    def browser(self) -> Browser:
        """What the browser sends now: its CSRF token and cookies."""
        assert self.web.csrf_token is not None
        return Browser(
            csrf_token=self.web.csrf_token,
            cookies={cookie.name: cookie.value or "" for cookie in self.web.jar.jar},
            origin=BASE_URL,
            cookie_names=cookie_names(self.app),
        )

    def run(self, method: str, template: str) -> None:
        """Fuzz one route (in a worker thread: each request runs on the test's event loop)."""

        @FUZZ_SETTINGS
        @given(st.data())
        def one_example(data: st.DataObject) -> None:
            request = data.draw(
                fuzz_requests(
                    method,
                    template,
                    self.browser,
                    field_names=FIELD_NAMES,
                    query_names=query_names(self.app, template),
                    known=self.known,
                    files=STATIC_FILES,
                ),
                label="request",
            )
            response = self.on_loop(self.send(request))
            self.count(request, response)
            assert response.status_code < 500, f"{request!r} answered {response.status_code}"
            assert TRACEBACK not in response.text, f"{request!r} showed a traceback"

        one_example()

    def on_loop(self, work: Awaitable[T]) -> T:
        """Run `work` on the test's event loop and wait for it (a hang fails after REQUEST_TIMEOUT)."""

        async def wrapped() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=REQUEST_TIMEOUT)

    async def send(self, request: FuzzRequest) -> httpx.Response:
        """Send `request` with exactly the drawn headers and cookies; the browser keeps nothing it answers."""
        await self.db.execute(text("DELETE FROM rate_limit_counters"))
        await self.db.execute(text("DELETE FROM login_throttles"))
        await self.db.commit()
        self.web.client.cookies = httpx.Cookies()
        try:
            return await self.web.client.request(
                request.method,
                request.path,
                content=request.body,
                headers=request.headers,
                follow_redirects=False,
            )
        finally:
            self.web.client.cookies = httpx.Cookies()
            await self.stay_signed_in()

    async def stay_signed_in(self) -> None:
        """Sign in again if the last example ended this browser's session (signed out, revoked, rotated)."""
        if not self.signed_in:
            return
        token = self.browser.cookies.get(self.app.state.security.cookies.session, "")
        alive = await self.db.scalar(
            text(
                "SELECT count(*) FROM auth_sessions WHERE token_hash = :digest AND authenticated_at IS NOT NULL"
            ),
            {"digest": token_digest(token)},
        )
        if not alive:
            await self.accounts.login(self.web)
            await self.web.get("/")

    def count(self, request: FuzzRequest, response: httpx.Response) -> None:
        self.tally.answers[response.status_code] += 1
        if request.method == "POST" and request.valid_csrf:
            self.tally.valid_csrf += 1
            self.tally.past_csrf += response.status_code != 403


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
async def test_no_hostile_request_to_any_route_gets_a_server_error(
    app: Litestar, web: WebClient, accounts: Accounts, db: AsyncSession, method: str, signed_in: bool
) -> None:
    disconnect_after_the_body(app)
    fuzzer = Fuzzer(app, web, accounts, db, signed_in=signed_in)
    await fuzzer.start()
    templates = route_templates(app, method)
    assert len(templates) >= 20
    failures: dict[str, BaseException] = {}
    for template in templates:
        try:
            await asyncio.to_thread(fuzzer.run, method, template)
        except Exception as exc:  # collect every route's failure, not only the first
            failures[template] = exc
    report = "\n\n".join(f"{method} {template}: {exc}" for template, exc in failures.items())
    assert not failures, f"{len(failures)} of {len(templates)} routes failed:\n{report}"
    if method == "POST":
        # Most examples carry the right token and same-origin headers: they must reach the handlers.
        tally = fuzzer.tally
        assert tally.past_csrf >= tally.valid_csrf * 0.5, tally
