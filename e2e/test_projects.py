"""Projects in a real browser: create, edit in place, archive and search with JavaScript, and the
same journey on plain pages without it. The demo data (`litestar seed`) provides the people."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

import pytest
from playwright.sync_api import Locator, Page, expect

from e2e.demo import demo_data, sign_in

pytestmark = pytest.mark.e2e

__all__ = ("demo_data",)  # the fixture

AxeCheck = Callable[[Page], None]
MEMBER = "mia@example.com"
VIEWER = "vic@example.com"


def row(page: Page, name: str) -> Locator:
    """The list item of the project called `name`."""
    return page.locator(".project").filter(has=page.get_by_role("link", name=name, exact=True))


def test_create_edit_in_place_archive_and_search(demo_data: None, page: Page, axe: AxeCheck) -> None:
    name = f"Jet pack {uuid4().hex[:6]}"
    sign_in(page, MEMBER)
    page.goto("/o/acme/projects")
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    axe(page)

    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Summary").fill("Up, up and away.")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/o/acme/projects$"))
    expect(page.get_by_role("status").filter(has_text=f"Project “{name}” created.")).to_be_visible()

    page.goto(f"/o/acme/projects?q={name}")
    page.get_by_role("link", name=f"Edit {name}").click()
    editor = page.locator(".project-editing")
    expect(editor.get_by_label("Name")).to_be_focused()  # the form replaced the row, focus went into it
    expect(page).to_have_url(re.compile(r"/o/acme/projects\?q="))  # still the list: edited in place
    editor.get_by_label("Name").fill(f"{name} XL")
    editor.get_by_role("button", name="Save").click()
    expect(row(page, f"{name} XL")).to_be_visible()
    expect(page.get_by_role("link", name=f"Edit {name} XL")).to_be_focused()
    axe(page)

    row(page, f"{name} XL").get_by_role("button", name=f"Archive {name} XL").click()
    expect(row(page, f"{name} XL").get_by_text("Archived", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=f"Unarchive {name} XL")).to_be_focused()

    page.goto("/o/acme/projects?status=all")
    page.get_by_label("Search").fill(f"{name} X")
    expect(page).to_have_url(re.compile(r"q=Jet"))  # the search is in the address bar
    expect(page.locator(".project")).to_have_count(1)
    expect(row(page, f"{name} XL")).to_be_visible()
    axe(page)


def test_the_same_journey_without_javascript(demo_data: None, no_js_page: Page) -> None:
    page = no_js_page
    name = f"Anvil {uuid4().hex[:6]}"
    sign_in(page, MEMBER)
    page.goto("/o/acme/projects/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text(f"Project “{name}” created.")).to_be_visible()

    page.get_by_label("Search").fill(name)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=Anvil"))
    expect(page.locator(".project")).to_have_count(1)

    page.get_by_role("link", name=f"Edit {name}").click()
    expect(page).to_have_url(re.compile(r"/edit$"))
    page.get_by_label("Name").fill(f"{name} 2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Project “{name} 2” saved.")).to_be_visible()

    page.goto(f"/o/acme/projects?q={name}")
    page.get_by_role("button", name=f"Archive {name} 2").click()
    expect(page.get_by_text(f"Project “{name} 2” archived.")).to_be_visible()

    page.goto(f"/o/acme/projects?status=archived&q={name}")
    page.get_by_role("link", name=f"Delete {name} 2").click()
    expect(page.get_by_role("heading", name=f"Delete {name} 2?")).to_be_visible()
    page.get_by_role("button", name="Delete project").click()
    expect(page.get_by_text(f"Project “{name} 2” deleted.")).to_be_visible()


def test_a_read_only_role_sees_projects_without_buttons(demo_data: None, page: Page, axe: AxeCheck) -> None:
    sign_in(page, VIEWER)
    page.goto("/o/acme/projects")
    expect(page.get_by_role("heading", name="Rocket skates")).to_be_visible()
    expect(page.get_by_role("link", name="New project")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Edit "))).to_have_count(0)
    axe(page)
