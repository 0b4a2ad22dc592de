"""Two-step verification and sudo in a real browser: enrol an authenticator app with codes computed
from the secret the page shows, sign in with a code and with a backup code, turn it off; a form
refused for sudo is finished after the prompt, with JavaScript and without.

Codes are computed with pyotp from the displayed secret at the real clock. A code is accepted once,
so each step uses the code of a later time step (one step ahead is accepted).
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from e2e.support import ConsoleWatcher, wait_for_mail
from e2e.test_accounts import (
    DASHBOARD,
    PASSWORD,
    AxeCheck,
    fill_sign_in,
    register_and_confirm,
    sign_out,
    unique_email,
)

pytestmark = pytest.mark.e2e


def code_at(secret: str, steps_ahead: int) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def confirm_with_password(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/sudo\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_enrol_sign_in_with_a_code_then_a_backup_code_then_turn_it_off(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/login/two-factor")  # the wrong code below
    email = unique_email("totp")
    register_and_confirm(page, email)

    page.goto("/settings/security")
    axe(page)
    page.get_by_role("link", name="Set up two-step verification").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    axe(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    # The session began with an address confirmation, so sudo is asked first; the button press is
    # kept and carried out after the prompt.
    expect(page.get_by_role("status").filter(has_text="Your changes are kept")).to_be_visible()
    axe(page)
    confirm_with_password(page)
    expect(page).to_have_url(re.compile(r"/settings/two-factor/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-step verification")
    expect(page.locator("figure.qr svg")).to_be_visible()
    axe(page)
    secret = page.locator(".secret code").inner_text().replace(" ", "")
    page.get_by_label("Type the 6-digit code the app shows").fill(code_at(secret, 0))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your backup codes")
    axe(page)
    codes = page.locator("#backup-codes code").all_inner_texts()
    assert len(codes) == 10
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.get_by_role("link", name="Download (.txt)")).to_have_attribute(
        "download", re.compile(r"\.txt$")
    )

    sign_out(page)
    fill_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/two-factor$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    axe(page)
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right. 4 tries left.")
    page.get_by_label("Authentication code").fill(code_at(secret, 1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(DASHBOARD)

    sign_out(page)
    fill_sign_in(page, email, PASSWORD)
    page.get_by_label("Authentication code").fill(codes[0].lower())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_text("You used a backup code; 9 are left.")).to_be_visible()
    wait_for_mail(page.request, email, subject="A Gatehouse backup code was used")

    page.goto("/settings/two-factor")
    page.get_by_label("Authentication code").fill(codes[1])
    page.get_by_role("button", name="Turn off two-step verification").click()
    expect(page.get_by_text("Two-step verification with an authenticator app is off.")).to_be_visible()
    expect(page.get_by_role("button", name="Set up an authenticator app")).to_be_visible()


def test_a_form_refused_for_sudo_is_finished_after_the_prompt_with_htmx(page: Page) -> None:
    email = unique_email("replay")
    register_and_confirm(page, email)
    page.goto("/settings/email")
    page.wait_for_function("() => window.htmx !== undefined")
    new_address = unique_email("moved")
    page.get_by_label("New address").fill(new_address)
    page.get_by_role("button", name="Send confirmation link").click()
    confirm_with_password(page)
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    expect(page.get_by_role("main")).to_contain_text(new_address)
    wait_for_mail(page.request, new_address)


def test_a_form_refused_for_sudo_is_finished_after_the_prompt_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    email = unique_email("replay-nojs")
    register_and_confirm(page, email, javascript=False)
    page.goto("/settings/email")
    new_address = unique_email("moved-nojs")
    page.get_by_label("New address").fill(new_address)
    page.get_by_role("button", name="Send confirmation link").click()
    confirm_with_password(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmed")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    expect(page.get_by_role("main")).to_contain_text(new_address)
