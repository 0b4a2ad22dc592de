"""The app under test and a client that behaves like a browser (cookies, CSRF token, htmx header)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.logging import configure_logging
from app.settings import Settings

BASE_URL = "http://testserver.local"
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


class WebClient:
    """A browser over the app: its own cookie jar, and it reads the CSRF token from pages.

    Several `WebClient`s can share one running app (`other_browser()`), which is how tests play an
    attacker and a victim, or two devices of one user.
    """

    def __init__(self, client: AsyncTestClient[Litestar]) -> None:
        self.client = client
        self.jar = httpx.Cookies()
        self.csrf_token: str | None = None

    def other_browser(self) -> WebClient:
        """Another browser (empty cookie jar) on the same app."""
        return WebClient(self.client)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request with this browser's cookies, keeping the cookies it sets."""
        self.client.cookies = self.jar
        try:
            response = await self.client.request(method, path, **kwargs)
        finally:
            self.jar = self.client.cookies
        if match := _CSRF_INPUT.search(response.text):
            self.csrf_token = match.group(1)
        return response

    async def get(self, path: str, *, htmx: bool = False, **kwargs: Any) -> httpx.Response:
        """GET `path` (as htmx when asked), remembering the page's CSRF token."""
        return await self.request(
            "GET", path, headers=_htmx_headers(htmx, kwargs.pop("headers", None)), **kwargs
        )

    async def submit(
        self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """POST a form the way the page would: with the CSRF token, same-origin headers, no redirect following."""
        if self.csrf_token is None:
            await self.get("/")
        headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("follow_redirects", False)
        return await self.request(
            "POST",
            path,
            data={"_csrf_token": self.csrf_token, **(data or {})},
            headers=_htmx_headers(htmx, headers),
            **kwargs,
        )

    @property
    def cookies(self) -> httpx.Cookies:
        """This browser's cookie jar."""
        return self.jar


def _htmx_headers(htmx: bool, headers: dict[str, str] | None) -> dict[str, str]:
    return {**(headers or {}), **({"HX-Request": "true"} if htmx else {})}


_CLOCK = FrozenClock()
"""The one clock of this test process: every app `app` builds keeps it, and each test resets it."""

_APPS: dict[int, tuple[Settings, Litestar]] = {}
"""The app for each settings object, built once per test process (see `app`)."""


@pytest.fixture
def clock() -> FrozenClock:
    """The app's clock: frozen at the start of the current minute; tests move it with `advance`."""
    _CLOCK.set(datetime.now(UTC).replace(second=0, microsecond=0))
    return _CLOCK


@pytest.fixture
async def app(settings: Settings, db: AsyncSession, clock: FrozenClock) -> AsyncIterator[Litestar]:
    """The app on an emptied database (`db` runs first), on the test's clock.

    Building an app registers every route (~0.3 s, mostly Litestar reading handler signatures), so
    each test process builds one per settings object and every test starts it afresh: the client's
    lifespan runs the startup hooks (job queue, limiter, throttles) each time, and what a test
    changes on the app (its state, a wrapped `asgi_handler`) is put back afterwards.
    """
    built = _APPS.get(id(settings))
    if built is None or built[0] is not settings:
        built = _APPS[id(settings)] = (settings, create_app(settings, clock=clock))
    app = built[1]
    configure_logging(settings)  # onto this test's output streams, as building the app would
    handler, state, routes = app.asgi_handler, dict(app.state), len(app.routes)
    yield app
    # The test client ran the lifespan in a thread of its own, whose shutdown could not close the
    # connections the requests opened on this loop: close them here, so the next test starts clean.
    await app.state.db_config.get_engine().dispose()
    if len(app.routes) != routes:  # the test registered a route of its own: never show it to another
        del _APPS[id(settings)]
    app.asgi_handler = handler
    for key in [key for key in app.state if key not in state]:
        del app.state[key]
    app.state.update(state)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A raw test client with the app's lifespan running (queue connected, worker started)."""
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def web(client: AsyncTestClient[Litestar]) -> WebClient:
    """A client that submits forms with their CSRF token, as a browser would."""
    return WebClient(client)
