"""The admin console in a real browser: granted by the CLI, two-step first, find a user by typing,
lock and unlock, impersonate with a reason (banner, a refused page, stop), filter and export the log.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.demo import ROOT, demo_data
from e2e.support import ConsoleWatcher, LiveServer, reload_until_visible
from scripts.embedded_pg import with_database
from tests.support.database import TEST_SECRET, scratch_database_name, server_url

pytestmark = [pytest.mark.e2e, pytest.mark.heavy(seconds=50)]

__all__ = ("demo_data",)

AxeCheck = Callable[[Page], None]
ADMIN = "root@example.com"
PASSWORD = "the operators own long passphrase"
SHOTS = Path(os.environ.get("ADMIN_SCREENSHOTS", "/tmp/admin-shots"))


def litestar(*args: str, stdin: str | None = None) -> str:
    """Run a `litestar` command on the live server's database."""
    server = server_url()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": with_database(server, scratch_database_name(server, "e2e")),
    }
    command = [str(Path(sys.executable).parent / "litestar"), "--app", "app.asgi:create_app", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, input=stdin, text=True, capture_output=True)
    return done.stdout


@pytest.fixture(scope="module")
def admin_account(demo_data: None, live_server: LiveServer) -> str:
    """An administrator made the only way there is: on the command line."""
    litestar("users", "create", ADMIN, "--confirmed", "--name", "Root Operator", stdin=PASSWORD + "\n")
    assert "platform administrator" in litestar("admin", "grant", ADMIN, "--impersonate")
    return ADMIN


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280 and 360 px wide, for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def downloads(new_context: Callable[..., BrowserContext], console_errors: ConsoleWatcher) -> Page:
    context = new_context(accept_downloads=True)
    console_errors.watch_context(context)
    return context.new_page()


def test_the_admin_journey(
    admin_account: str, downloads: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    page = downloads
    console_errors.expect_error_response(403, "/settings/password")
    page.goto("/login")
    form = page.locator("#login-form")
    form.get_by_label("Email address", exact=True).fill(ADMIN)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))

    # No second factor yet: the console sends the administrator to set one up.
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/settings/two-factor$"))
    expect(page.get_by_text("The admin console needs two-step verification")).to_be_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator(".secret code").inner_text().replace(" ", "")
    page.get_by_label("Type the 6-digit code the app shows").fill(code_at(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your backup codes")

    page.get_by_role("banner").locator("summary.avatar-button").click()  # the account menu names the console
    page.get_by_role("link", name="Admin console", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator(".admin-marker")).to_have_text("Admin")
    axe(page)
    shoot(page, "dashboard")

    # Find a user by typing: htmx swaps the results without a reload.
    page.get_by_role("link", name="Users").click()
    axe(page)
    page.get_by_label("Email or name").press_sequentially("mia@", delay=30)
    expect(page).to_have_url(re.compile(r"q=mia"))
    expect(page.locator("#user-results tbody tr")).to_have_count(1)
    shoot(page, "users")
    page.locator("#user-results").get_by_role("link", name="mia@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("mia@example.com")
    axe(page)
    shoot(page, "user")

    page.get_by_label("Why lock sign-in?").fill("Reported lost laptop")
    page.get_by_role("button", name="Lock sign-in").click()
    expect(page.get_by_text("Sign-in is locked")).to_be_visible()
    page.get_by_role("button", name="Unlock sign-in").click()
    expect(page.get_by_text("Sign-in is unlocked.")).to_be_visible()

    page.get_by_label("Why do you need to sign in as them?").fill("Ticket 77: cannot find the projects page")
    page.get_by_role("button", name="Sign in as them").click()
    banner = page.get_by_role("region", name="Impersonation")
    expect(banner).to_contain_text("You are signed in as mia@example.com")
    expect(banner).to_contain_text("minutes left")
    axe(page)
    shoot(page, "impersonating")
    page.goto("/settings/password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not while impersonating")
    expect(page.get_by_role("region", name="Impersonation")).to_be_visible()
    page.get_by_role("button", name="Stop impersonating").click()
    expect(page.get_by_text("You are yourself again.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("mia@example.com")

    # The audit explorer: filter, open an event, export what is shown.
    page.get_by_role("link", name="Audit log").click()
    axe(page)
    page.get_by_label("Action").fill("admin.impersonation")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=admin.impersonation"))
    expect(page.locator("#audit-rows tr").first).to_contain_text("admin.impersonation.")
    shoot(page, "audit")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert {row["action"] for row in rows} == {"admin.impersonation.started", "admin.impersonation.stopped"}
    page.locator("#audit-rows tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Event")
    axe(page)

    # The chain check runs as a job (the in-process worker here); its verdict shows on the page.
    page.goto("/admin/audit")
    page.get_by_role("button", name="Verify the chain now").click()
    expect(page.get_by_text("The chain check is running.")).to_be_visible()
    reload_until_visible(page, page.locator(".admin-chain .badge-on", has_text="Intact"))

    for path, name in (("/admin/orgs", "orgs"), ("/admin/jobs", "jobs")):
        page.goto(path)
        axe(page)
        shoot(page, name)
    page.goto("/admin/orgs")
    page.get_by_role("link", name="Acme").first.click()
    axe(page)
    shoot(page, "org")

    # Deleting closes the organization until its purge date; restoring gives it back as it was.
    page.get_by_label(re.compile(r"^Why delete it\?")).fill("Owner asked in ticket 78")
    page.get_by_role("button", name="Delete organization").click()
    expect(page.get_by_text("unless restored")).to_be_visible()
    axe(page)
    shoot(page, "org-deleted")
    page.get_by_role("button", name="Restore organization").click()
    expect(page.get_by_text("is restored.")).to_be_visible()


def test_the_console_is_a_404_for_everyone_else(
    demo_data: None, page: Page, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(404, "/admin/")
    from e2e.demo import sign_in

    sign_in(page, "olive@example.com")  # owns an organization, administers nothing
    response = page.goto("/admin/")
    assert response is not None
    assert response.status == 404


def test_finding_a_user_and_impersonating_work_without_javascript(demo_data: None, no_js_page: Page) -> None:
    page = no_js_page
    email = "nojs-admin@example.com"
    litestar("users", "create", email, "--confirmed", stdin=PASSWORD + "\n")
    litestar("admin", "grant", email, "--impersonate")
    page.goto("/login")
    form = page.locator("#login-form")
    form.get_by_label("Email address", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.goto("/settings/two-factor")
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator(".secret code").inner_text().replace(" ", "")
    page.get_by_label("Type the 6-digit code the app shows").fill(code_at(secret))
    page.get_by_role("button", name="Turn on").click()

    page.goto("/admin/users")
    page.get_by_label("Email or name").fill("vic@")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=vic"))
    page.locator("#user-results").get_by_role("link", name="vic@example.com").click()
    page.get_by_label("Why do you need to sign in as them?").fill("Ticket 78: checking the viewer role")
    page.get_by_role("button", name="Sign in as them").click()
    expect(page.get_by_role("region", name="Impersonation")).to_contain_text("vic@example.com")
    page.get_by_role("button", name="Stop impersonating").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("vic@example.com")
