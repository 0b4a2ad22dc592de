"""The organization's audit log in a real browser: times in the browser's zone, filters, a CSV download."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.demo import demo_data, sign_in
from e2e.support import ConsoleWatcher

pytestmark = pytest.mark.e2e

__all__ = ("demo_data",)  # the fixture, shared with the projects journeys

AxeCheck = Callable[[Page], None]
OWNER = "olive@example.com"


@pytest.fixture
def tokyo(new_context: Callable[..., BrowserContext], console_errors: ConsoleWatcher) -> Page:
    """A page in a browser set to Tokyo time (UTC+9, no daylight saving)."""
    context = new_context(timezone_id="Asia/Tokyo", accept_downloads=True)
    console_errors.watch_context(context)
    return context.new_page()


def test_times_are_shown_in_the_browsers_zone_and_exports_download(
    demo_data: None, tokyo: Page, axe: AxeCheck
) -> None:
    page = tokyo
    sign_in(page, OWNER)
    page.goto("/o/acme/audit")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    first = page.locator("time[data-local-time]").first
    expect(first).to_have_attribute("data-localized", "")
    assert "UTC" in (first.get_attribute("title") or "")  # the server's UTC text, kept as the tooltip
    assert "UTC" not in first.inner_text()
    axe(page)

    page.get_by_label("Action").fill("project")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=project"))
    expect(page.locator("tbody tr").first).to_contain_text("project.")

    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    assert download.value.suggested_filename.startswith("acme-audit-")
    path = download.value.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows
    assert all(row["action"].startswith("project.") for row in rows)


def test_the_page_and_a_download_work_without_javascript(demo_data: None, no_js_page: Page) -> None:
    page = no_js_page
    sign_in(page, OWNER)
    page.goto("/o/acme/audit")
    expect(page.locator("time[data-local-time]").first).to_contain_text("UTC")
    with page.expect_download() as download:
        page.get_by_role("button", name="NDJSON").click()
    assert download.value.suggested_filename.endswith(".ndjson")
