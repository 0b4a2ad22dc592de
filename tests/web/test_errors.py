"""Error responses: full pages for browsers, an alert fragment for htmx, JSON for machines."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.models import AuthSession
from app.settings import Settings
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def test_404_is_a_full_page_with_navigation(web: WebClient) -> None:
    response = await web.get("/nowhere")
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text
    assert 'class="site-nav"' in response.text


async def test_404_for_htmx_is_a_fragment_shown_in_the_alert_region(web: WebClient) -> None:
    response = await web.get("/nowhere", htmx=True)
    assert response.status_code == 404
    assert response.headers["hx-retarget"] == "#flash"
    assert response.headers["hx-reswap"] == "innerHTML"
    assert "<html" not in response.text
    assert 'role="alert"' in response.text


async def test_unexpected_error_shows_generic_500_without_details(app: Litestar, web: WebClient) -> None:
    @get("/boom", include_in_schema=False)
    async def boom() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    app.register(boom)
    response = await web.get("/boom")
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in response.text
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_429_passes_retry_after_through(app: Litestar, web: WebClient) -> None:
    from litestar.exceptions import TooManyRequestsException

    @get("/slow-down", include_in_schema=False)
    async def slow_down() -> str:
        raise TooManyRequestsException(headers={"Retry-After": "42"})

    app.register(slow_down)
    response = await web.get("/slow-down")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"
    assert "<h1>Too many requests</h1>" in response.text


async def test_403_page_for_a_forbidden_request(app: Litestar, web: WebClient) -> None:
    from litestar.exceptions import PermissionDeniedException

    @get("/forbidden", include_in_schema=False)
    async def forbidden() -> str:
        raise PermissionDeniedException()

    app.register(forbidden)
    response = await web.get("/forbidden")
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in response.text


async def test_json_clients_get_json_errors(web: WebClient) -> None:
    response = await web.get("/nowhere", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Page not found"}


async def test_developer_pages_do_not_exist_in_production(settings: Settings, db: AsyncSession) -> None:
    production = settings.model_copy(update={"app_env": "prod", "secure_cookies": False})
    async with AsyncTestClient(app=create_app(production), base_url="http://testserver.local") as client:
        for path in ("/dev/mailbox", "/dev/mailbox/messages.json", "/dev/mail-previews"):
            assert (await client.get(path)).status_code == 404, path


# --- the router's errors know who is asking ---------------------------------------------------
# A 404 for an unknown path and a 405 for a known one happen before any middleware runs.


@pytest.mark.parametrize(("path", "status"), [("/nowhere", 404), ("/logout", 405)])
async def test_a_router_error_page_knows_the_signed_in_user_and_the_csrf_token(
    web: WebClient, accounts: Accounts, path: str, status: int
) -> None:
    await accounts.create()
    await accounts.login(web)
    response = await web.get(path)
    assert response.status_code == status
    assert "ada@example.com" in response.text
    assert 'href="/login"' not in response.text
    token = re.search(r'name="_csrf_token" value="([^"]*)"', response.text)
    assert token, "no sign-out form on the error page"
    assert token.group(1) == web.cookies["csrftoken"] != ""
    # The page's sign-out form works.
    assert (await web.submit("/logout")).status_code == 303


async def test_a_router_error_page_for_a_visitor_offers_sign_in(web: WebClient) -> None:
    response = await web.get("/nowhere")
    assert response.status_code == 404
    assert 'href="/login"' in response.text


async def test_a_router_error_does_not_restore_from_remember_me(
    web: WebClient, accounts: Accounts, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    remember = web.cookies["remember"]
    clock.advance(timedelta(hours=13))  # the session is dead; the remember cookie is not
    response = await web.get("/nowhere")
    assert response.status_code == 404
    assert 'href="/login"' in response.text  # restoring would rotate a cookie this answer cannot send
    assert web.cookies["remember"] == remember
    assert "remembered" not in (await db.scalars(select(AuthSession.kind))).all()
    page = await web.get("/settings/profile")  # the next real page restores it, no theft suspected
    assert page.status_code == 200
    assert "ada@example.com" in page.text
