"""A browser's trip through an identity provider, step by step, for the OAuth tests.

The app and the provider talk over real HTTP. The "browser" is a `WebClient` for the app's pages
and a plain HTTP client for the provider's (it needs no cookies there): start on a sign-in button,
follow the redirect to the provider, follow the provider's redirect back to the landing page, and
post the answer on as the landing page's form does.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.oidc_provider import Person, Tenant
from tests.support.web import BASE_URL, WebClient

_HIDDEN = re.compile(r'<input type="hidden" name="(code|state|iss|error)" value="([^"]*)">')


async def signed_in(web: WebClient) -> bool:
    """Whether this browser is signed in (a page that needs it answers 200, not a redirect)."""
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


def local(url: str) -> str:
    """The path and query of an absolute URL to the app."""
    assert url.startswith(BASE_URL), url
    return url.removeprefix(BASE_URL)


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (first value of each)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def start(
    web: WebClient, key: str, *, page: str = "/login", path: str | None = None, **fields: str
) -> httpx.Response:
    """Press a provider's button on `page` (or POST `path`): the app's redirect to the provider."""
    await web.get(page)
    return await web.submit(path or f"/auth/oauth/{key}/start", fields)


async def at_provider(url: str) -> httpx.Response:
    """Open the provider's authorization URL (the test set who signs in there, or a denial)."""
    async with httpx.AsyncClient(verify=False) as client:  # noqa: S501 (plain HTTP: no TLS context to build)
        return await client.get(url)


def departure(page: httpx.Response) -> str:
    """Where the page that sends the browser to the provider goes (its `Refresh` header)."""
    assert page.status_code == 200, page.text[:300]
    delay, _, url = page.headers["refresh"].partition(";url=")
    assert delay == "0", page.headers["refresh"]
    assert f'href="{html.escape(url)}"' in page.text, "and a link, for a browser that does not refresh"
    return url


def landing_fields(page: httpx.Response) -> dict[str, str]:
    """The provider's answer as the landing page hands it on."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}


async def come_back(web: WebClient, answer_location: str) -> httpx.Response:
    """Follow the provider back to the app's landing page, then post its form, as the page would."""
    path = local(answer_location)
    landing = await web.get(path)
    assert landing.status_code == 200, landing.text[:300]
    return await web.submit(urlsplit(path).path, landing_fields(landing))


async def trip(
    web: WebClient, tenant: Tenant, key: str, person: Person | None = None, **start_options: str
) -> httpx.Response:
    """The whole trip, `person` signing in at the provider: the app's answer to the callback POST."""
    tenant.person = person or Person(sub="1")
    started = await start(web, key, **start_options)
    assert started.status_code == 200, started.text[:300]
    answer = await at_provider(departure(started))
    assert answer.status_code == 302, answer.text[:300]
    return await come_back(web, answer.headers["location"])
