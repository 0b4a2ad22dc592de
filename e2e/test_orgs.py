"""Organizations in a real browser: a personal workspace at sign-up, creating an organization,
inviting a teammate who registers from the mail and lands in it, changing their role, two tabs in
two organizations, the shell on a 360 px phone, and the pages without JavaScript.

Every distinct page a test sees with JavaScript on goes through axe (`check`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.support import ConsoleWatcher, mailed_link, wait_for_mail
from e2e.test_accounts import (
    DASHBOARD,
    PASSWORD,
    confirm_by_link,
    confirmation_mail,
    fill_sign_in,
    register,
    unique_email,
)
from e2e.test_email_flows import EveryPage, flash, heading, second_browser

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], None]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", "test-results/screenshots"))


@pytest.fixture
def check(axe: AxeCheck) -> EveryPage:
    """`check(page)` after every step: axe on each page this test has not checked yet."""
    return EveryPage(axe)


def sign_up(page: Page, label: str, check: EveryPage) -> str:
    """Register and confirm a fresh address; it lands on its personal workspace. Returns it."""
    email = unique_email(label)
    register(page, email, check=check)
    confirm_by_link(page, confirmation_mail(page, email).link, check=check)
    expect(page).to_have_url(DASHBOARD)
    expect(heading(page)).to_contain_text("\u2019s workspace")
    check(page)
    return email


def create_org(page: Page, name: str, check: EveryPage) -> str:
    """Open the switcher, choose "New organization", create `name`; returns its slug."""
    page.locator("summary.switcher-button").click()
    page.get_by_role("link", name="New organization").click()
    expect(heading(page)).to_have_text("Create an organization")
    check(page)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(DASHBOARD)
    expect(heading(page)).to_have_text(name)
    expect(flash(page)).to_contain_text(f"{name} is ready.")
    check(page)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_a_team_forms_around_an_invitation(
    page: Page, check: EveryPage, new_context: Callable[..., BrowserContext], console_errors: ConsoleWatcher
) -> None:
    owner_email = sign_up(page, "owner", check)
    team = f"Rocket {uuid4().hex[:6]}"
    slug = create_org(page, team, check)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(heading(page)).to_have_text("Members")
    check(page)
    teammate = unique_email("teammate")
    page.get_by_label("Email address").fill(teammate)
    page.get_by_role("button", name="Send invitation").click()
    expect(flash(page)).to_contain_text(f"Invitation sent to {teammate}.")
    expect(page.locator("#invitation-list")).to_contain_text(teammate)
    check(page, "invited")

    # The teammate opens the mail in another browser, registers through it and lands in the team.
    mate = second_browser(new_context, console_errors)
    message = wait_for_mail(mate.request, teammate, subject=f"Invitation to join {team} on Gatehouse")
    mate.goto(mailed_link(message, "/invitations/accept"))
    expect(mate).to_have_url(re.compile(r"/invitations/accept$"))
    expect(heading(mate)).to_have_text(f"Join {team}")
    check(mate)
    mate.get_by_role("link", name="Create an account").click()
    register(mate, teammate, check=check)
    confirm_by_link(mate, confirmation_mail(mate, teammate).link, check=check)
    expect(mate).to_have_url(re.compile(r"/invitations/accept$"))
    check(mate, "signed in")
    mate.get_by_role("button", name=f"Join {team}").click()
    expect(mate).to_have_url(re.compile(rf"/o/{slug}/$"))
    expect(flash(mate)).to_contain_text(f"Welcome to {team}.")
    expect(mate.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")).to_have_count(0)
    check(mate, "member")

    # The owner makes them an admin; their next page shows the settings.
    page.reload()
    row = page.locator("#member-list > li", has_text=teammate)
    row.get_by_label(re.compile("^Role of")).select_option(label="Admin")
    row.get_by_role("button", name="Change role").click()
    expect(flash(page)).to_contain_text("Role changed.")
    mate.reload()
    expect(mate.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")).to_be_visible()

    # The owner's other pages: settings, roles, and a refusal that says why.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(heading(page)).to_have_text("Organization settings")
    check(page)
    page.get_by_role("link", name="Roles and permissions").click()
    expect(heading(page)).to_have_text("Roles and permissions")
    check(page)
    page.goto(f"/o/{slug}/members")
    console_errors.expect_error_response(409, f"/o/{slug}/members/leave")
    page.get_by_role("button", name="Leave organization").click()
    expect(page.get_by_role("alert")).to_contain_text("You are the only owner.")
    check(page)
    page.get_by_role("link", name="Go back").click()
    expect(heading(page)).to_have_text("Members")

    # Two tabs, two organizations: the organization is in the URL, not in the session.
    other_tab = page.context.new_page()
    console_errors.watch(other_tab)
    other_tab.goto("/orgs")
    expect(heading(other_tab)).to_have_text("Your organizations")
    check(other_tab)
    other_tab.get_by_role("link", name="\u2019s workspace").click()
    expect(heading(other_tab)).to_contain_text("\u2019s workspace")
    page.get_by_label("Email address").fill(unique_email("second"))
    page.get_by_role("button", name="Send invitation").click()
    expect(page).to_have_url(re.compile(rf"/o/{slug}/members$"))
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    other_tab.reload()
    expect(heading(other_tab)).to_contain_text("\u2019s workspace")
    page.locator("summary.switcher-button").click()
    switcher = page.locator(".org-switcher .switcher-list")
    expect(switcher).to_contain_text("\u2019s workspace")  # loaded by htmx when it opened
    expect(switcher).to_contain_text(team)
    assert owner_email


def test_the_shell_fits_a_phone(page: Page, check: EveryPage) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    sign_up(page, "phone", check)
    header = page.get_by_role("banner")
    box = header.bounding_box()
    assert box is not None
    assert box["height"] < 70, box  # one row
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "shell-360.png", full_page=True)
    page.locator("summary.menu-button").click()
    menu = page.locator(".compact-menu .menu-panel")
    expect(menu.get_by_role("link", name="Members")).to_be_visible()
    check(page, "menu open")
    page.screenshot(path=SCREENSHOTS / "shell-360-menu.png")
    menu.get_by_role("link", name="Members").click()
    expect(heading(page)).to_have_text("Members")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    check(page)
    page.screenshot(path=SCREENSHOTS / "members-360.png", full_page=True)


def test_the_org_pages_work_without_javascript(no_js_page: Page, console_errors: ConsoleWatcher) -> None:
    page = no_js_page
    slug = f"plain-{uuid4().hex[:6]}"
    console_errors.expect_error_response(422, f"/o/{slug}/invitations")
    email = unique_email("nojs")
    register(page, email, javascript=False)
    confirm_by_link(page, confirmation_mail(page, email).link)
    expect(page).to_have_url(DASHBOARD)
    page.locator("summary.switcher-button").click()
    page.get_by_role("link", name="All your organizations").first.click()
    expect(heading(page)).to_have_text("Your organizations")
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill("Plain HTML Inc")
    page.get_by_label("Address").fill(slug)
    page.get_by_role("button", name="Create organization").click()
    expect(heading(page)).to_have_text("Plain HTML Inc")
    page.get_by_role("link", name="Members").first.click()
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invite-email-error")).to_be_visible()
    page.get_by_label("Email address").fill(unique_email("plain"))
    page.get_by_role("button", name="Send invitation").click()
    expect(flash(page)).to_contain_text("Invitation sent")
    page.get_by_role("button", name="Revoke").click()
    expect(flash(page)).to_contain_text("Invitation revoked.")
    page.get_by_role("banner").locator("summary.avatar-button").click()
    page.get_by_role("button", name="Sign out").click()
    fill_sign_in(page, email, PASSWORD)
    # Signing out forgot which organization this browser used last: back to the personal workspace.
    expect(page).to_have_url(DASHBOARD)
    expect(heading(page)).to_contain_text("\u2019s workspace")
