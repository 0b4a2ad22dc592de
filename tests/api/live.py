"""A live Granian server on a fresh database with the demo data, and tokens made over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.seed import DEMO_PASSWORD
from e2e.support import LiveServer, ServerStartError
from tests.support.database import TEST_SECRET, fresh_database

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
NEW_TOKEN = re.compile(r"data-new-token>(gth_[^<]+)<")


@contextmanager
def live_server(
    log_dir: Path, suffix: str, policy: dict[str, int] | None = None, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """Granian serving the app on a fresh `<name>_<suffix>` database holding the demo data (`env` added)."""
    database_url = fresh_database(suffix)
    env = {**os.environ, "APP_ENV": "test", "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url}
    litestar = Path(sys.executable).parent / "litestar"
    subprocess.run([str(litestar), "--app", "app.asgi:create_app", "seed"], cwd=ROOT, env=env, check=True)
    extra = {**({"SECURITY_POLICY": json.dumps(policy)} if policy else {}), **(env or {})} or None
    server = LiveServer.start(database_url, log_dir / "server.log", extra)
    try:
        server.wait_until_healthy()
    except ServerStartError as exc:
        server.stop()
        pytest.fail(f"live server did not start: {exc}\n{server.log_tail()}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def post_form(
    browser: httpx.Client, path: str, page: httpx.Response, data: dict[str, object]
) -> httpx.Response:
    """Submit a form of `page` as a browser would (its CSRF token, same-origin headers)."""
    match = CSRF.search(page.text)
    assert match is not None, page.text[:300]
    headers = {"origin": str(browser.base_url).rstrip("/"), "sec-fetch-site": "same-origin"}
    return browser.post(path, data={"_csrf_token": match.group(1), **data}, headers=headers)


def token_over_http(server: LiveServer, email: str, scopes: Sequence[str]) -> str:
    """Sign in as a demo user over HTTP and make a token on the settings page; its value."""
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        signed_in = post_form(
            browser, "/login", browser.get("/login"), {"email": email, "password": DEMO_PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        made = post_form(
            browser,
            "/settings/tokens",
            browser.get("/settings/tokens"),
            {"name": "live", "scopes": list(scopes), "days": "30"},
        )
        assert made.status_code == 201, made.text[:300]
        assert made.headers["cache-control"] == "no-store"
        match = NEW_TOKEN.search(made.text)
        assert match is not None
        return match.group(1)
