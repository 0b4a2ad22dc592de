"""One log line per request, without query strings, cookies or bodies (where secrets travel)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
from tests.support.web import BASE_URL, WebClient


async def test_request_log_leaves_out_query_cookies_and_body(
    settings: Settings, db: AsyncSession, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"log_level": "INFO", "log_json": True}))
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        web.cookies.set("session", "cookie-secret-value")
        await web.get("/?token=query-secret-value")
        await web.submit("/demo", {"message": "body-secret-value"})
    logged = capfd.readouterr().err
    assert '"event": "request"' in logged
    assert '"path": "/"' in logged
    assert '"path": "/demo"' in logged
    for secret in ("query-secret-value", "cookie-secret-value", "body-secret-value"):
        assert secret not in logged
    await web.get("/?token=query-secret-value")
    await web.submit("/demo", {"message": "body-secret-value"})
    logged = capfd.readouterr().err
    assert "path=/" in logged or '"path": "/"' in logged
    for secret in ("query-secret-value", "cookie-secret-value", "body-secret-value"):
        assert secret not in logged


async def test_every_response_carries_a_request_id(web: WebClient) -> None:
    first, second = await web.get("/"), await web.get("/missing")
    assert len(first.headers["x-request-id"]) == 16
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
