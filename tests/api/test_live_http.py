"""The API over real HTTP: a Granian server, a token made through the settings page, then calls with it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.seed import DEMO_PASSWORD
from e2e.support import LiveServer, ServerStartError
from tests.support.database import TEST_SECRET, fresh_database

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
NEW_TOKEN = re.compile(r"data-new-token>(gth_[^<]+)<")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Granian serving the app on a fresh database holding the demo data."""
    database_url = fresh_database("live_api")
    env = {**os.environ, "APP_ENV": "test", "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url}
    litestar = Path(sys.executable).parent / "litestar"
    subprocess.run([str(litestar), "--app", "app.asgi:create_app", "seed"], cwd=ROOT, env=env, check=True)
    live = LiveServer.start(database_url, tmp_path_factory.mktemp("live_api") / "server.log")
    try:
        live.wait_until_healthy()
    except ServerStartError as exc:
        live.stop()
        pytest.fail(f"live server did not start: {exc}\n{live.log_tail()}", pytrace=False)
    yield live
    live.stop()


def post_form(
    browser: httpx.Client, path: str, page: httpx.Response, data: dict[str, object]
) -> httpx.Response:
    """Submit a form of `page` as a browser would (its CSRF token, same-origin headers)."""
    match = CSRF.search(page.text)
    assert match is not None, page.text[:300]
    headers = {"origin": str(browser.base_url).rstrip("/"), "sec-fetch-site": "same-origin"}
    return browser.post(path, data={"_csrf_token": match.group(1), **data}, headers=headers)


def test_a_token_made_in_settings_drives_the_api_over_http(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        signed_in = post_form(
            browser, "/login", browser.get("/login"), {"email": "mia@example.com", "password": DEMO_PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        made = post_form(
            browser,
            "/settings/tokens",
            browser.get("/settings/tokens"),
            {"name": "live", "scopes": ["account:read", "projects:write"], "days": "30"},
        )
        assert made.status_code == 201
        assert made.headers["cache-control"] == "no-store"
        match = NEW_TOKEN.search(made.text)
        assert match is not None
        token = match.group(1)

    with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as api:
        me = api.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["email"] == "mia@example.com"
        assert int(me.headers["ratelimit-remaining"]) < int(me.headers["ratelimit-limit"])
        created = api.post("/api/v1/orgs/acme/projects", json={"name": "Over the wire", "summary": "HTTP"})
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert api.get(location).json()["name"] == "Over the wire"
        listed = api.get("/api/v1/orgs/acme/projects", params={"q": "over the wire"}).json()
        assert [p["name"] for p in listed["items"]] == ["Over the wire"]
        assert api.patch(location, json={"archived": True}).json()["archived"] is True
        assert api.delete(location).status_code == 204
        missing = api.get(location)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")

    with httpx.Client(base_url=server.url, timeout=10) as stranger:
        assert stranger.get("/api/v1/me").status_code == 401
