"""Journeys through mailed links in a real browser: a forgotten password, signing in by link and by
code, moving an account to a new address (behind the sudo prompt), and changing the password.

Every test registers its own addresses, because the e2e database lives for the whole session, and
reads its mail from the dev mailbox. No address is sent more than two mails that count against the
per-recipient limit (5 an hour). Every distinct page a test sees with JavaScript on goes through axe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.support import ConsoleWatcher, mailed_link, wait_for_mail
from e2e.test_accounts import (
    CODE,
    GENERIC_FAILURE,
    PASSWORD,
    confirm_by_link,
    confirmation_mail,
    expect_signed_in,
    fill_sign_in,
    no_check,
    register,
    sign_out,
    unique_email,
)

pytestmark = [pytest.mark.e2e, pytest.mark.heavy(seconds=70)]

AxeCheck = Callable[[Page], None]
NEW_PASSWORD = "velvet lanterns drift over quiet harbours"
RESET_SUBJECT = "Reset your Gatehouse password"
SIGN_IN_SUBJECT = "Sign in to Gatehouse"
CHANGE_SUBJECT = "Confirm your new Gatehouse address"
CHANGE_REQUESTED_SUBJECT = "Someone asked to change the email address of your Gatehouse account"
CHANGED_SUBJECT = "The email address of your Gatehouse account was changed"
PASSWORD_CHANGED_SUBJECT = "Your Gatehouse password was changed"


@dataclass
class EveryPage:
    """Runs axe on each distinct page of a test, skipping repeat visits.

    A page is its path, its main heading and a `state` the caller names (say "refused" for a form
    sent back with errors), so `check(page)` can follow every step without running axe again on
    the sign-in page each time the journey passes through it.
    """

    axe: AxeCheck
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def __call__(self, page: Page, state: str = "") -> None:
        key = (urlsplit(page.url).path, heading(page).inner_text(), state)
        if key not in self.seen:
            self.seen.add(key)
            self.axe(page)


@pytest.fixture
def check(axe: AxeCheck) -> EveryPage:
    """`check(page)` after every step: axe on each page this test has not checked yet."""
    return EveryPage(axe)


def heading(page: Page) -> Locator:
    """The page's main heading."""
    return page.get_by_role("heading", level=1)


def flash(page: Page) -> Locator:
    """The flash-message region."""
    return page.locator("#flash")


def signed_up(page: Page, label: str, *, javascript: bool = True, check: AxeCheck = no_check) -> str:
    """Register and confirm a fresh address with PASSWORD; return it, signed in on `page`."""
    email = unique_email(label)
    register(page, email, javascript=javascript, check=check)
    confirm_by_link(page, confirmation_mail(page, email).link, check=check)
    expect_signed_in(page, email)
    check(page)
    return email


def expect_signed_out(page: Page) -> None:
    """The header offers "Sign in", not "Sign out"."""
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name="Sign in")).to_be_visible()
    expect(header.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)


def second_browser(new_context: Callable[..., BrowserContext], console_errors: ConsoleWatcher) -> Page:
    """A page in a fresh browser context (no cookies), its console watched like the first one."""
    context = new_context()
    console_errors.watch_context(context)
    return context.new_page()


def open_settings(page: Page, section: str) -> None:
    """Follow a link of the settings navigation."""
    page.get_by_role("navigation", name="Settings").get_by_role("link", name=section).click()


# --- forgotten password


def ask_for_reset_link(page: Page, email: str, *, check: AxeCheck = no_check) -> str:
    """From the sign-in page, ask for a reset link; return the link from the mail."""
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    expect(heading(page)).to_have_text("Reset your password")
    check(page)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page).to_have_url(re.compile(r"/forgot-password/sent$"))
    expect(heading(page)).to_have_text("Check your inbox")
    expect(page.get_by_role("main")).to_contain_text("a link to choose a new password is on its way")
    check(page)
    return mailed_link(wait_for_mail(page.request, email, subject=RESET_SUBJECT), "/reset-password")


def open_reset_link(page: Page, link: str, email: str) -> None:
    """Open a reset link: the token moves to a cookie and the form shows on the bare path."""
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    assert "token" not in page.url
    expect(heading(page)).to_have_text("Choose a new password")
    expect(page.get_by_role("main")).to_contain_text(f"For {email}.")


def save_new_password(page: Page, password: str) -> None:
    """Type a password into the reset form and send it."""
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Save my new password").click()


def expect_reset_done(page: Page) -> None:
    """On the sign-in page with the success flash, signed out."""
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(heading(page)).to_have_text("Sign in")
    expect(flash(page)).to_contain_text("Your password has been changed. Sign in with it now.")
    expect_signed_out(page)


def test_a_forgotten_password_is_replaced_from_the_mailed_link(
    page: Page, check: EveryPage, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/reset-password")
    console_errors.expect_error_response(410, "/reset-password")
    console_errors.expect_error_response(422, "/login")
    email = signed_up(page, "reset", check=check)
    sign_out(page)
    check(page)
    link = ask_for_reset_link(page, email, check=check)

    open_reset_link(page, link, email)
    check(page)
    field = page.get_by_label("New password")
    expect(field).to_have_attribute("aria-describedby", "reset-password-hint")
    save_new_password(page, "too short")
    expect(page.locator("#reset-password-error")).to_have_text("Use at least 12 characters (this has 9).")
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "reset-password-error")
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    check(page, "refused")

    save_new_password(page, NEW_PASSWORD)
    expect_reset_done(page)
    check(page, "reset")

    page.goto(link)  # it worked once; now it is spent
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    expect(heading(page)).to_have_text("This link has expired or was already used")
    expect(page.get_by_role("button", name="Save my new password")).to_have_count(0)
    check(page)

    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    fill_sign_in(page, email, PASSWORD)
    expect(page.locator("#login-error")).to_have_text(GENERIC_FAILURE)
    expect_signed_out(page)
    check(page, "refused")
    fill_sign_in(page, email, NEW_PASSWORD)
    expect_signed_in(page, email)


# --- signing in by email


def ask_for_sign_in_mail(page: Page, email: str, *, check: AxeCheck = no_check) -> dict[str, Any]:
    """From the sign-in page, ask for a link and a code; end on "Check your inbox", return the mail."""
    page.get_by_role("link", name="Email me a sign-in link instead").click()
    expect(page).to_have_url(re.compile(r"/login/email$"))
    expect(heading(page)).to_have_text("Sign in by email")
    check(page)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page).to_have_url(re.compile(r"/login/email/check-inbox$"))
    expect(heading(page)).to_have_text("Check your inbox")
    expect(page.get_by_role("main")).to_contain_text(f"If an account uses {email}, we sent it a sign-in link")
    check(page)
    return wait_for_mail(page.request, email, subject=SIGN_IN_SUBJECT)


def test_a_sign_in_link_works_only_in_the_browser_that_asked_for_it(
    page: Page,
    new_context: Callable[..., BrowserContext],
    check: EveryPage,
    console_errors: ConsoleWatcher,
) -> None:
    email = signed_up(page, "magic-link", check=check)
    sign_out(page)
    check(page)
    link = mailed_link(ask_for_sign_in_mail(page, email, check=check), "/login/email/link")

    other = second_browser(new_context, console_errors)
    other.goto(link)
    expect(other).to_have_url(re.compile(r"/login/email/link$"))
    expect(heading(other)).to_have_text("Open this link on the device where you asked for it")
    expect(other.get_by_role("main").get_by_role("button")).to_have_count(0)
    expect_signed_out(other)
    check(other)

    page.goto(link)  # the other browser did not use it up
    expect(page).to_have_url(re.compile(r"/login/email/link$"))
    assert "token" not in page.url
    expect(heading(page)).to_have_text(f"Sign in as {email}")
    check(page)
    page.get_by_role("button", name=f"Sign in as {email}").click()
    expect_signed_in(page, email)

    other.goto("/settings")
    expect(other).to_have_url(re.compile(r"/login\?next=/settings$"))


def test_the_mailed_code_signs_in_after_a_wrong_code_is_flagged_inline(
    page: Page, check: EveryPage, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/login/email/code")
    email = signed_up(page, "magic-code", check=check)
    sign_out(page)
    check(page)
    message = ask_for_sign_in_mail(page, email, check=check)
    found = CODE.search(message["text"])
    assert found is not None, message["text"]
    code = found.group(1) + found.group(2)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.wait_for_load_state()  # htmx has taken over the code form
    page.evaluate("window.sameDocument = true")  # gone if the wrong code made the browser navigate

    form = page.locator("#magic-code-form")
    field = form.get_by_label("Sign-in code")
    field.fill(wrong)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#magic-code-error")).to_have_text("That code is not right. 4 tries left.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "magic-code-error")
    expect(field).to_be_focused()
    assert page.evaluate("window.sameDocument") is True
    check(page, "refused")

    field.fill(code)
    form.get_by_role("button", name="Sign in").click()
    expect_signed_in(page, email)


# --- changing the address


def send_new_address(page: Page, email: str) -> None:
    """Fill in and send the new-address form on Settings → Email address."""
    page.get_by_label("New address").fill(email)
    page.get_by_role("button", name="Send confirmation link").click()


def test_a_new_address_takes_the_sudo_prompt_then_the_link_mailed_to_it(
    page: Page, context: BrowserContext, check: EveryPage, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/login")
    old = signed_up(page, "old", check=check)
    new = unique_email("new")
    sign_out(page)
    check(page)
    fill_sign_in(page, old, PASSWORD, remember=True)
    expect_signed_in(page, old)
    # Signing in counts as confirming the password for a while. A session that "keep me signed in"
    # restores has seen no password, so the address change must ask for one.
    context.clear_cookies(name="session")
    page.reload()
    expect_signed_in(page, old)

    open_settings(page, "Email address")
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    expect(heading(page)).to_have_text("Email address")
    expect(page.locator(".facts")).to_contain_text(old)
    check(page)
    send_new_address(page, new)
    expect(page).to_have_url(re.compile(r"/sudo\?next=/settings/email$"))
    expect(heading(page)).to_have_text("Confirm it is you")
    check(page)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    # The address typed before the prompt was kept: the change is sent on without retyping it.
    page.get_by_role("button", name="Continue").click()
    expect(flash(page)).to_contain_text(
        f"We sent a confirmation link to {new}. Your address changes when you open it."
    )
    expect(page).to_have_url(re.compile(r"/settings/email$"))
    expect(page.locator("#pending-email-change")).to_contain_text(f"Waiting for confirmation of {new}")
    check(page, "pending")
    requested = wait_for_mail(page.request, old, subject=CHANGE_REQUESTED_SUBJECT)
    assert new in requested["text"]

    link = mailed_link(wait_for_mail(page.request, new, subject=CHANGE_SUBJECT), "/settings/email/confirm")
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/settings/email/confirm$"))
    assert "token" not in page.url
    expect(heading(page)).to_have_text("Confirm your new address")
    expect(page.get_by_role("main")).to_contain_text(f"Confirm {new} as the address of your account")
    check(page)
    page.get_by_role("button", name="Use this address").click()
    expect_signed_in(page, new)
    expect(flash(page)).to_contain_text(f"Your address is now {new}.")
    check(page, "changed")
    changed = wait_for_mail(page.request, old, subject=CHANGED_SUBJECT)
    assert new in changed["text"]

    sign_out(page)
    fill_sign_in(page, old, PASSWORD)
    expect(page.locator("#login-error")).to_have_text(GENERIC_FAILURE)
    check(page, "refused")
    fill_sign_in(page, new, PASSWORD)
    expect_signed_in(page, new)


# --- changing the password


def test_changing_the_password_in_settings_signs_out_the_other_browser(
    page: Page,
    new_context: Callable[..., BrowserContext],
    check: EveryPage,
    console_errors: ConsoleWatcher,
) -> None:
    console_errors.expect_error_response(422, "/settings/password")
    email = signed_up(page, "password", check=check)
    other = second_browser(new_context, console_errors)
    other.goto("/login")
    fill_sign_in(other, email, PASSWORD)
    expect_signed_in(other, email)

    open_settings(page, "Password")
    expect(page).to_have_url(re.compile(r"/settings/password$"))
    expect(heading(page)).to_have_text("Password")
    check(page)
    current = page.get_by_label("Current password")
    new = page.get_by_label("New password")
    expect(page.get_by_label("Sign out all other devices")).to_be_checked()
    current.fill("not my password at all")
    new.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current-password-error")).to_have_text("That is not your current password.")
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_have_attribute("aria-describedby", "current-password-error")
    expect(current).to_be_focused()
    expect(new).not_to_have_attribute("aria-invalid", "true")
    expect(new).to_have_value("")  # a password is never sent back
    check(page, "refused")

    current.fill(PASSWORD)
    new.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/settings/password$"))
    expect(current).not_to_have_attribute("aria-invalid", "true")  # a fresh page, not the refused form
    expect(heading(page)).to_have_text("Password")
    check(page, "changed")
    wait_for_mail(page.request, email, subject=PASSWORD_CHANGED_SUBJECT)

    other.reload()
    expect(other).to_have_url(re.compile(r"/login\?next=/settings/profile$"))
    expect(heading(other)).to_have_text("Sign in")
    check(other)

    page.reload()  # this browser stays signed in
    expect(heading(page)).to_have_text("Password")
    sign_out(page)
    fill_sign_in(page, email, NEW_PASSWORD)
    expect_signed_in(page, email)


def test_a_password_change_is_confirmed_by_a_flash(page: Page) -> None:
    """Pins the missing flash (the test above checks the rest, and runs axe on these pages)."""
    email = signed_up(page, "password-flash")
    open_settings(page, "Password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/settings/password$"))
    wait_for_mail(page.request, email, subject=PASSWORD_CHANGED_SUBJECT)  # the change went through
    expect(flash(page)).to_contain_text("Password changed.", timeout=2000)


# --- without JavaScript (axe needs JavaScript, so it does not run here)


def test_a_forgotten_password_is_replaced_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    email = signed_up(page, "nojs-reset", javascript=False)
    sign_out(page)
    link = ask_for_reset_link(page, email)
    open_reset_link(page, link, email)
    save_new_password(page, NEW_PASSWORD)
    expect_reset_done(page)
    fill_sign_in(page, email, NEW_PASSWORD)
    expect_signed_in(page, email)
