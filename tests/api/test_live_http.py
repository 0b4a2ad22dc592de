"""The API over real HTTP: a Granian server, a token made through the settings page, then calls with it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from e2e.support import LiveServer
from tests.api.live import live_server, token_over_http


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live_api"), "live_api") as server:
        yield server


def test_a_token_made_in_settings_drives_the_api_over_http(server: LiveServer) -> None:
    token = token_over_http(server, "mia@example.com", ["account:read", "projects:write"])
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
