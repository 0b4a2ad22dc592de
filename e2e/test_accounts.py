"""Account journeys in a real browser: register and confirm (by link or by code), sign in and out,
remember-me, the sessions page and sudo, with JavaScript on and off.

Every test registers its own address, because the e2e database lives for the whole session. All
requests come from 127.0.0.1, and each auth endpoint takes 10 POSTs a minute from one address:
this file stays well under that (7 to /register, 4 to /login, 5 to /confirm-email, 2 to
/register/confirm-code, 1 to /sudo).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.support import ConsoleWatcher, open_with_htmx, wait_for_mail

pytestmark = [pytest.mark.e2e, pytest.mark.heavy(seconds=45)]

AxeCheck = Callable[[Page], None]
PASSWORD = "correct horse battery staple"
CONFIRM_SUBJECT = "Confirm your Gatehouse account"
GENERIC_FAILURE = "That email and password do not match an account we can sign you in to."
LINK = re.compile(r"https?://\S+/confirm-email\?token=[A-Za-z0-9_\-]+")
CODE = re.compile(r"^\s*(\d{3}) (\d{3})\s*$", re.MULTILINE)  # the mail shows it as "123 456"


def no_check(page: Page) -> None:
    """No page check: the default of the helpers (callers with JavaScript on pass `axe` instead)."""


def unique_email(label: str = "user") -> str:
    """A fresh address: the database is shared by every test in the session."""
    return f"{label}-{uuid4().hex[:8]}@example.com"


@dataclass(frozen=True)
class Confirmation:
    """The link and the six-digit code of a confirmation mail."""

    link: str
    code: str


def confirmation_mail(page: Page, email: str) -> Confirmation:
    """Read the newest confirmation mail to `email` from the dev mailbox."""
    message = wait_for_mail(page.request, email, subject=CONFIRM_SUBJECT)
    link = LINK.search(message["text"])
    code = CODE.search(message["text"])
    assert link is not None, message["text"]
    assert code is not None, message["text"]
    return Confirmation(link=link.group(0), code=code.group(1) + code.group(2))


def register(page: Page, email: str, *, javascript: bool = True, check: AxeCheck = no_check) -> None:
    """Fill in and send the registration form; end on the "Check your inbox" page."""
    if javascript:
        open_with_htmx(page, "/register")
    else:
        page.goto("/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    check(page)
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    if javascript:  # let the as-you-type check answer, so nothing is in flight when the page changes
        expect(page.locator("#password-feedback")).to_have_text("Looks good.")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/register/check-inbox$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    expect(page.get_by_role("main")).to_contain_text(f"We sent a message to {email}.")
    check(page)


def confirm_by_link(page: Page, link: str, *, check: AxeCheck = no_check) -> None:
    """Open a confirmation link and press the button (the GET alone confirms nothing)."""
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/confirm-email$"))  # the token left the address bar
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your address")
    check(page)
    page.get_by_role("button", name="Confirm my address").click()


DASHBOARD = re.compile(r"/o/[a-z0-9-]+/$")
"""Where signing in lands: the dashboard of an organization (a new account's personal workspace)."""


def account_menu(page: Page, email: str) -> Locator:
    """The header's account menu button of the person signed in as `email` (no display name)."""
    return page.get_by_role("banner").locator(f'summary[aria-label="Account menu for {email}"]')


def expect_signed_in(page: Page, email: str, *, flash: str | None = None) -> None:
    """Signed in as `email` (the account menu names it), showing `flash` if given. Signing in lands
    on an organization's dashboard: from there the menu's "Settings" leads on to the profile, where
    the account journeys continue."""
    if flash is not None:
        expect(page.locator("#flash")).to_contain_text(flash)
    header = page.get_by_role("banner")
    expect(account_menu(page, email)).to_be_visible()
    expect(header.get_by_role("link", name="Sign in")).to_have_count(0)
    if DASHBOARD.search(page.url):
        account_menu(page, email).click()
        expect(header.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
        header.locator("details.account-menu").get_by_role("link", name="Settings", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/profile$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")


def register_and_confirm(page: Page, email: str, *, javascript: bool = True) -> None:
    """A confirmed account for `email`, signed in on `page`."""
    register(page, email, javascript=javascript)
    confirm_by_link(page, confirmation_mail(page, email).link)
    expect_signed_in(page, email)


def sign_out(page: Page) -> None:
    """Open the account menu and press "Sign out"; end on the sign-in page that says so."""
    header = page.get_by_role("banner")
    page.wait_for_load_state()  # a page still loading may take the click before its menu works
    header.locator("summary.avatar-button").click()
    button = header.get_by_role("button", name="Sign out", exact=True)
    expect(button).to_be_visible()
    button.click()
    expect(page).to_have_url(re.compile(r"/login\?signed_out=1$"), timeout=15_000)
    expect(page.get_by_role("status").filter(has_text="You have signed out.")).to_be_visible()


def fill_sign_in(page: Page, email: str, password: str, *, remember: bool = False) -> None:
    """Fill in the sign-in form and send it."""
    form = page.locator("#login-form")
    form.get_by_label("Email address", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(password)
    if remember:
        form.get_by_label("Keep me signed in on this device").check()
    form.get_by_role("button", name="Sign in").click()


def sessions(page: Page) -> Locator:
    """The session cards on the Sessions page."""
    return page.locator(".session-list > li")


def this_device(page: Page) -> Locator:
    """The session card of the browser looking at the page."""
    return sessions(page).filter(has=page.locator(".badge", has_text="This device"))


def open_sessions_page(page: Page) -> None:
    """Go to Settings → Sessions by its link."""
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Sessions").click()
    expect(page).to_have_url(re.compile(r"/settings/sessions$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions")


# --- registration


def test_registering_and_confirming_by_link_signs_in_until_signing_out(page: Page, axe: AxeCheck) -> None:
    email = unique_email("link")
    register(page, email, check=axe)
    confirm_by_link(page, confirmation_mail(page, email).link, check=axe)
    expect_signed_in(page, email, flash="Your address is confirmed. Welcome!")
    axe(page)

    open_sessions_page(page)
    expect(sessions(page)).to_have_count(1)
    expect(this_device(page)).to_have_count(1)
    axe(page)

    sign_out(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    axe(page)
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()


def test_the_mailed_code_confirms_with_htmx_after_a_wrong_code_is_flagged_inline(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/register/confirm-code")
    email = unique_email("code")
    register(page, email, check=axe)
    page.evaluate("window.sameDocument = true")  # gone if the wrong code made the browser navigate
    code = confirmation_mail(page, email).code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    field = page.get_by_label("Confirmation code")
    field.fill(wrong)
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.locator("#confirm-code-error")).to_have_text("That code is not right. 4 tries left.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "confirm-code-error")
    expect(field).to_be_focused()
    assert page.evaluate("window.sameDocument") is True
    axe(page)

    field.fill(f"{code[:3]} {code[3:]}")  # typed as the mail shows it
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect_signed_in(page, email, flash="Your address is confirmed. Welcome!")


def test_password_feedback_appears_as_you_type_and_a_refused_form_marks_the_field(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/register")
    email = unique_email("feedback")
    open_with_htmx(page, "/register")
    feedback = page.locator("#password-feedback")
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-describedby", "password-feedback")
    page.get_by_label("Email address", exact=True).fill(email)

    password.fill("short")
    expect(feedback).to_contain_text("Use at least 12 characters")
    expect(page).to_have_url(re.compile(r"/register$"))  # feedback only: nothing was submitted
    expect(page.locator("#password-feedback .field-error")).to_have_count(0)
    axe(page)
    password.fill(PASSWORD)
    expect(feedback).to_have_text("Looks good.")

    password.fill("short")
    expect(feedback).to_contain_text("Use at least 12 characters")
    page.get_by_role("button", name="Create account").click()
    # The refusal is said once, in the block the live check replaces as the person types again.
    expect(feedback).to_contain_text("Use at least 12 characters (this has 5).")
    expect(page).to_have_url(re.compile(r"/register$"))
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "password-feedback")
    expect(password).to_be_focused()
    expect(password).to_have_value("")  # a password is never sent back
    expect(page.locator(".field", has=password)).to_contain_text("Use at least 12 characters (this has 5).")
    expect(page.get_by_label("Email address", exact=True)).to_have_value(email)
    expect(page.get_by_label("Email address", exact=True)).not_to_have_attribute("aria-invalid", "true")
    axe(page)
    password.fill(PASSWORD)
    expect(feedback).to_have_text("Looks good.")  # and the stale refusal is gone with it
    expect(page.get_by_text("Use at least 12 characters")).to_have_count(0)


# --- remember-me


def test_keep_me_signed_in_restores_a_session_when_the_session_cookie_is_gone(
    page: Page, context: BrowserContext, axe: AxeCheck
) -> None:
    email = unique_email("remember")
    register_and_confirm(page, email)
    sign_out(page)
    fill_sign_in(page, email, PASSWORD, remember=True)
    expect_signed_in(page, email)
    cookies = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
    assert "remember" in cookies
    assert "session" in cookies

    context.clear_cookies(name="session")  # as if the browser had been closed
    assert "session" not in {cookie["name"] for cookie in context.cookies()}
    page.reload()
    expect_signed_in(page, email)
    restored = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
    assert restored["session"] != cookies["session"], "a new session, not the old one"
    assert restored["remember"] != cookies["remember"], "the remember-me validator rotates on use"

    open_sessions_page(page)
    expect(this_device(page)).to_contain_text("restored by “keep me signed in”")
    # The password session lives on in the database; only this browser lost its cookie.
    expect(sessions(page)).to_have_count(2)
    axe(page)


# --- sessions page and sudo


def test_signing_out_another_session_from_the_sessions_page_ends_it_at_once(
    page: Page, new_context: Callable[..., BrowserContext], axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    email = unique_email("sessions")
    register_and_confirm(page, email)
    other_context = new_context()
    console_errors.watch_context(other_context)
    other = other_context.new_page()
    other.goto("/login")
    fill_sign_in(other, email, PASSWORD)
    expect_signed_in(other, email)

    open_sessions_page(page)
    expect(sessions(page)).to_have_count(2)
    expect(this_device(page)).to_have_count(1)
    axe(page)
    # This browser signed in by confirming its address, which is not a typed password: signing
    # another browser out asks for the password first (sudo), then finishes the sign-out it was
    # asked for, with nothing to click again.
    elsewhere = sessions(page).filter(has_not=page.locator(".badge"))
    elsewhere.get_by_role("button", name=re.compile(r"^Sign out")).click()
    expect(page).to_have_url(re.compile(r"/sudo\?next=/settings/sessions$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    axe(page)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/settings/sessions$"))
    expect(page.get_by_role("main")).to_contain_text("you will not be asked again for")
    expect(page.locator("#flash")).to_contain_text("That session has been signed out.")
    expect(sessions(page)).to_have_count(1)
    expect(this_device(page)).to_have_count(1)

    other.reload()
    expect(other).to_have_url(re.compile(r"/login\?next=/settings/profile$"))
    expect(other.get_by_role("heading", level=1)).to_have_text("Sign in")
    axe(other)


# --- without JavaScript (axe needs JavaScript, so it does not run here)


def test_registering_and_confirming_by_link_works_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    email = unique_email("nojs-register")
    register(page, email, javascript=False)
    confirm_by_link(page, confirmation_mail(page, email).link)
    expect_signed_in(page, email, flash="Your address is confirmed. Welcome!")
    open_sessions_page(page)
    expect(this_device(page)).to_have_count(1)


def test_signing_in_without_javascript_shows_the_generic_error_then_succeeds(
    no_js_page: Page, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/login")
    page = no_js_page
    email = unique_email("nojs-signin")
    register_and_confirm(page, email, javascript=False)
    sign_out(page)

    with page.expect_response("**/login") as refused:
        fill_sign_in(page, email, "not the right password")
    assert refused.value.status == 422
    expect(page.get_by_role("alert")).to_have_text(GENERIC_FAILURE)
    expect(page.get_by_label("Email address", exact=True)).to_have_value(email)  # what was typed stays
    expect(page.get_by_label("Password", exact=True)).to_have_value("")

    fill_sign_in(page, email, PASSWORD)
    expect_signed_in(page, email)


@pytest.mark.parametrize(("path", "label"), [("/register", "Password"), ("/login", "Password")])
def test_a_password_can_be_pasted_from_a_password_manager(
    page: Page, context: BrowserContext, path: str, label: str
) -> None:
    """Requirement 8: nothing blocks paste into password fields (a real keyboard paste, not `fill`)."""
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_with_htmx(page, path)
    page.evaluate("text => navigator.clipboard.writeText(text)", PASSWORD)
    field = page.locator("main form").get_by_label(label, exact=True)
    field.focus()
    page.keyboard.press("ControlOrMeta+V")
    expect(field).to_have_value(PASSWORD)
    if path == "/register":  # the as-you-type policy check saw the pasted password too
        expect(page.locator("#password-feedback")).to_have_text("Looks good.")
