"""API tokens in a real browser: make one in settings, see it once, call the API with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e.demo import demo_data, sign_in
from e2e.support import LiveServer

pytestmark = pytest.mark.e2e

__all__ = ("demo_data",)  # the fixture

AxeCheck = Callable[[Page], None]


def test_a_token_made_in_settings_calls_the_api(
    demo_data: None, page: Page, live_server: LiveServer, axe: AxeCheck
) -> None:
    name = f"CI deploy {uuid4().hex[:6]}"
    sign_in(page, "mia@example.com")
    page.goto("/settings/tokens")
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
    axe(page)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("checkbox", name="projects:write").check()
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("[data-new-token]")
    expect(shown).to_have_text(re.compile(r"^gth_"))
    token = shown.inner_text()
    axe(page)

    project = f"From the API {uuid4().hex[:6]}"
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        created = api.post("/api/v1/orgs/acme/projects", json={"name": project})
        assert created.status_code == 201, created.text

    page.goto(f"/o/acme/projects?q={project}")
    expect(page.get_by_role("link", name=project, exact=True)).to_be_visible()

    page.goto("/settings/tokens")
    expect(page.locator("[data-new-token]")).to_have_count(0)  # shown once, never again
    page.get_by_role("button", name=f"Revoke {name}").click()
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/orgs/acme/projects").status_code == 401
