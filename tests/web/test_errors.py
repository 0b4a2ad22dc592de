"""Error responses: full pages for browsers, an alert fragment for htmx, JSON for machines."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
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
