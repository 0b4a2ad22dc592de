"""One journey through "Your data": export (the link works once), delete behind the sudo prompt,
signed out and refused, then signing in offers the restore and it brings the account back."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.support import ConsoleWatcher, mailed_link, wait_for_mail
from e2e.test_accounts import PASSWORD, expect_signed_in, fill_sign_in, sign_out
from e2e.test_email_flows import AxeCheck, EveryPage, flash, heading, open_settings, signed_up

pytestmark = pytest.mark.e2e

EXPORT_SUBJECT = "Your Gatehouse data export is ready"
DELETED_SUBJECT = "Your Gatehouse account is deleted"
DOWNLOAD = "/settings/account/export/download"


@pytest.fixture
def check(axe: AxeCheck) -> EveryPage:
    """axe on each distinct page of the journey."""
    return EveryPage(axe)


def test_export_once_then_delete_and_restore(
    page: Page, context: BrowserContext, check: EveryPage, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(410, DOWNLOAD)
    email = signed_up(page, "lifecycle", check=check)

    open_settings(page, "Your data")
    expect(heading(page)).to_have_text("Your data")
    check(page)
    page.get_by_role("button", name="Export my data").click()
    expect(flash(page)).to_contain_text("You will get an email with a download link")
    link = mailed_link(wait_for_mail(page.request, email, subject=EXPORT_SUBJECT), DOWNLOAD)
    page.goto(link)
    expect(heading(page)).to_have_text("Download your data")
    check(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    archive = json.loads(download.value.path().read_text())
    assert archive["profile"]["email"] == email
    page.goto(link)
    page.get_by_role("button", name="Download my data").click()
    expect(page.get_by_role("alert")).to_contain_text("already been used or has expired")

    # A remembered session has seen no password: deleting asks for it first.
    sign_out(page)
    fill_sign_in(page, email, PASSWORD, remember=True)
    expect_signed_in(page, email)
    context.clear_cookies(name="session")
    page.goto("/settings/account")
    page.get_by_label(re.compile("type your email address")).fill(email)
    page.get_by_role("button", name="Delete my account").click()
    expect(heading(page)).to_have_text("Confirm it is you")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/login\?deleted=1$"))
    expect(page.get_by_role("status").filter(has_text="Your account is deleted")).to_be_visible()
    check(page)
    assert "Keep my account" in wait_for_mail(page.request, email, subject=DELETED_SUBJECT)["html"]
    page.goto("/settings/profile")
    expect(page).to_have_url(re.compile(r"/login"))

    fill_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/restore$"))
    expect(heading(page)).to_have_text("Restore your account?")
    check(page)
    page.get_by_role("button", name="Restore my account").click()
    expect(page.locator("#flash")).to_contain_text("your account is restored")
    expect_signed_in(page, email)
