"""The demo data (`litestar seed`) on the live server's database, for journeys that need organizations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.seed import DEMO_PASSWORD
from e2e.support import LiveServer
from scripts.embedded_pg import with_database
from tests.support.database import TEST_SECRET, scratch_database_name, server_url

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_data(live_server: LiveServer) -> None:
    """`litestar seed` on the live server's database (idempotent, so any number of runs is fine)."""
    server = server_url()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": with_database(server, scratch_database_name(server, "e2e")),
    }
    litestar = Path(sys.executable).parent / "litestar"
    subprocess.run([str(litestar), "--app", "app.asgi:create_app", "seed"], cwd=ROOT, env=env, check=True)


def sign_in(page: Page, email: str) -> None:
    """Sign in as a demo user."""
    page.goto("/login")
    form = page.locator("#login-form")
    form.get_by_label("Email address", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
