"""The app under test and a client that behaves like a browser (cookies, CSRF token, htmx header)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings

BASE_URL = "http://testserver.local"
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


class WebClient:
    """An `AsyncTestClient` with the habits of a browser: it reads the CSRF token from pages."""

    def __init__(self, client: AsyncTestClient[Litestar]) -> None:
        self.client = client
        self.csrf_token: str | None = None

    async def get(self, path: str, *, htmx: bool = False, **kwargs: Any) -> httpx.Response:
        """GET `path` (as htmx when asked), remembering the page's CSRF token."""
        response = await self.client.get(
            path, headers=_htmx_headers(htmx, kwargs.pop("headers", None)), **kwargs
        )
        if match := _CSRF_INPUT.search(response.text):
            self.csrf_token = match.group(1)
        return response

    async def submit(
        self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """POST a form the way the page would: with the CSRF token, same-origin headers."""
        if self.csrf_token is None:
            await self.get("/")
        headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("follow_redirects", False)
        response = await self.client.post(
            path,
            data={"_csrf_token": self.csrf_token, **(data or {})},
            headers=_htmx_headers(htmx, headers),
            **kwargs,
        )
        if match := _CSRF_INPUT.search(response.text):
            self.csrf_token = match.group(1)
        return response

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookie jar."""
        return self.client.cookies


def _htmx_headers(htmx: bool, headers: dict[str, str] | None) -> dict[str, str]:
    return {**(headers or {}), **({"HX-Request": "true"} if htmx else {})}


@pytest.fixture
def app(settings: Settings, db: AsyncSession) -> Litestar:
    """A fresh app on an emptied database (`db` runs first)."""
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A raw test client with the app's lifespan running (queue connected, worker started)."""
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def web(client: AsyncTestClient[Litestar]) -> WebClient:
    """A client that submits forms with their CSRF token, as a browser would."""
    return WebClient(client)
