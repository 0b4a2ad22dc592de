"""Passkeys in Chromium, with its DevTools virtual authenticator standing in for Touch ID or a phone.

A WebAuthn relying party id cannot be an IP address, so this file runs a server of its own whose
BASE_URL is http://localhost:<port>, and the browser opens it by that name (the shared live
server answers on 127.0.0.1). The virtual authenticator belongs to one page: it keeps its
passkeys across navigations, signs with "user verified" and needs no touch.

POSTs from 127.0.0.1 stay well under the raised per-endpoint limit (60 a minute).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from e2e.conftest import LIVE_SERVER_ENV
from e2e.support import ConsoleWatcher, LiveServer, ServerStartError, wait_for_mail
from e2e.test_accounts import (
    DASHBOARD,
    PASSWORD,
    account_menu,
    fill_sign_in,
    register_and_confirm,
    sign_out,
    unique_email,
)
from tests.support.database import fresh_database

pytestmark = [pytest.mark.e2e, pytest.mark.heavy(seconds=30)]

AxeCheck = Callable[[Page], None]
CHANGED_SUBJECT = "Your Gatehouse sign-in protection changed"


@pytest.fixture(scope="module")
def passkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """The app on http://localhost:<port>, and the URL of its database."""
    log_path = tmp_path_factory.mktemp("passkey_server") / "server.log"
    database_url = fresh_database("e2e_passkeys")
    server = LiveServer.start(database_url, log_path, LIVE_SERVER_ENV, host_name="localhost")
    try:
        server.wait_until_healthy()
    except ServerStartError as exc:
        server.stop()
        pytest.fail(f"server did not start: {exc}\n{server.log_tail()}", pytrace=False)
    yield server, database_url
    server.stop()


def open_context(
    browser: Browser, server: LiveServer, watcher: ConsoleWatcher, **options: Any
) -> BrowserContext:
    context = browser.new_context(base_url=server.url, **options)
    watcher.watch_context(context)
    return context


@pytest.fixture
def site(
    browser: Browser, passkey_server: tuple[LiveServer, str], console_errors: ConsoleWatcher
) -> Iterator[Page]:
    """A page on the localhost server, with a virtual platform authenticator attached."""
    context = open_context(browser, passkey_server[0], console_errors)
    page = context.new_page()
    add_virtual_authenticator(context.new_cdp_session(page))
    yield page
    context.close()


@pytest.fixture
def no_js_site(
    browser: Browser, passkey_server: tuple[LiveServer, str], console_errors: ConsoleWatcher
) -> Iterator[Page]:
    """A page on the localhost server with JavaScript off."""
    context = open_context(browser, passkey_server[0], console_errors, java_script_enabled=False)
    yield context.new_page()
    context.close()


def add_virtual_authenticator(cdp: CDPSession) -> str:
    """Chromium's virtual authenticator: CTAP2, built in, resident keys, verifies the user itself."""
    cdp.send("WebAuthn.enable", {"enableUI": False})
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    answer = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return str(answer["authenticatorId"])


def expire_sudo(database_url: str, email: str) -> None:
    """Move every session's last re-authentication of `email` 20 minutes back (past the sudo window)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE auth_sessions SET authenticated_at = authenticated_at - %s"
            " WHERE user_id = (SELECT id FROM users WHERE email = %s)",
            (timedelta(minutes=20), email),
        )


def passkey_cards(page: Page) -> Any:
    return page.locator("#passkey-list > li")


def add_a_passkey(page: Page, check: AxeCheck) -> None:
    """Settings → Passkeys → "Add a passkey" (the session has sudo): the list then shows it."""
    page.goto("/settings/passkeys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Passkeys")
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    check(page)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#flash")).to_contain_text("Passkey added")
    expect(passkey_cards(page)).to_have_count(1)
    check(page)


def expect_signed_in(page: Page, email: str) -> None:
    expect(page).to_have_url(DASHBOARD)
    expect(account_menu(page, email)).to_be_visible()


def account_with_a_passkey(page: Page, check: AxeCheck) -> str:
    """A new account (signed in with its password, so with sudo) that has added a passkey."""
    email = unique_email("passkey")
    register_and_confirm(page, email)
    sign_out(page)
    fill_sign_in(page, email, PASSWORD)
    expect_signed_in(page, email)
    add_a_passkey(page, check)
    return email


def rename_buttons(page: Page) -> Any:
    """The "Rename" disclosure buttons (shown only while the session has sudo)."""
    return page.locator("#passkey-list summary", has_text="Rename")


RECORD_MEDIATION = """
(() => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    const seen = sessionStorage.getItem("passkey-mediation") || "";
    sessionStorage.setItem("passkey-mediation", seen + ((options && options.mediation) || "optional") + " ");
    return get(options);
  };
})();
"""
"""Records, in the tab's session storage, how each passkey request asked (it survives navigations)."""


def block_conditional_ui(page: Page) -> None:
    """Make the page believe the browser has no passkey autofill (to test the button alone)."""
    page.add_init_script(
        "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"
    )


def test_a_passkey_is_added_then_signs_in_without_an_email_and_confirms_sudo(
    site: Page, passkey_server: tuple[LiveServer, str], axe: AxeCheck
) -> None:
    page = site
    block_conditional_ui(page)  # this test presses the button; the next one tests the autofill
    email = account_with_a_passkey(page, axe)
    assert "was added" in wait_for_mail(page.request, email, subject=CHANGED_SUBJECT)["text"]

    sign_out(page)
    button = page.get_by_role("button", name="Sign in with a passkey")
    expect(button).to_be_visible()
    axe(page)
    button.click()  # no email address typed anywhere
    expect_signed_in(page, email)

    expire_sudo(passkey_server[1], email)
    page.goto("/settings/passkeys")
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(rename_buttons(page)).to_have_count(0)
    axe(page)
    page.get_by_role("button", name="Confirm with a passkey").click()
    expect(rename_buttons(page)).to_be_visible()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_have_count(0)
    axe(page)


def test_after_the_password_a_passkey_is_the_second_step_and_it_confirms_sudo_on_the_sudo_page(
    site: Page, passkey_server: tuple[LiveServer, str], axe: AxeCheck
) -> None:
    page = site
    block_conditional_ui(page)
    email = account_with_a_passkey(page, axe)
    sign_out(page)
    fill_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/two-factor$"))
    axe(page)
    page.get_by_role("button", name="Use a passkey").click()
    expect_signed_in(page, email)

    expire_sudo(passkey_server[1], email)
    page.goto("/sudo?next=/settings/passkeys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    axe(page)
    page.get_by_role("button", name="Confirm with a passkey").click()
    expect(page).to_have_url(re.compile(r"/settings/passkeys$"))
    expect(rename_buttons(page)).to_have_count(1)


def test_the_sign_in_page_offers_the_passkey_in_the_email_fields_autofill(site: Page, axe: AxeCheck) -> None:
    page = site
    email = account_with_a_passkey(page, axe)
    page.add_init_script(RECORD_MEDIATION)
    sign_out(page)
    # On the sign-in page the script asks for a passkey with `mediation: "conditional"`: the
    # browser offers it in the email field's autofill (`autocomplete="username webauthn"`). The
    # virtual authenticator picks it at once, as a user choosing it there would; nothing is typed
    # and no button is pressed.
    expect_signed_in(page, email)
    assert page.evaluate("sessionStorage.getItem('passkey-mediation')") == "conditional "


def test_a_refused_passkey_shows_why_in_the_live_region(site: Page, axe: AxeCheck) -> None:
    page = site
    block_conditional_ui(page)
    page.goto("/login")
    button = page.get_by_role("button", name="Sign in with a passkey")
    button.click()  # the virtual authenticator holds no passkey for this site
    status = page.locator("#passkey-sign-in [data-passkey-status]")
    expect(status).to_have_text(re.compile("No passkey was used"))
    expect(button).to_be_enabled()
    axe(page)


def test_without_javascript_the_pages_say_passkeys_need_it_and_offer_the_other_ways(no_js_site: Page) -> None:
    page = no_js_site
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    note = page.locator("#passkey-sign-in .passkey-note")  # inside <noscript>, which get_by_text skips
    expect(note).to_be_visible()
    expect(note).to_contain_text(
        "Signing in with a passkey needs JavaScript. Use your password or an emailed"
    )
    expect(page.get_by_role("link", name="Email me a sign-in link instead")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
