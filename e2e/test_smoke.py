"""Golden-path smoke test of the foundation: home, htmx, theme, demo form, errors, dev mailbox."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from e2e.support import ConsoleWatcher, open_with_htmx, reload_until_visible

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], None]
HTMX_VERSION = "4.0.1"
TEST_MAIL_SUBJECT = "Gatehouse test message"


def test_home_page_loads_htmx_with_the_hardened_config(page: Page, axe: AxeCheck) -> None:
    open_with_htmx(page)  # theme "system", which Playwright's default colour scheme makes light
    expect(page.get_by_role("heading", level=1)).to_have_text("Ship the product, not the login page.")
    assert page.evaluate("htmx.version").startswith(HTMX_VERSION)
    assert page.evaluate("htmx.config.includeIndicatorCSS") is False
    assert page.evaluate("htmx.config.mode") == "same-origin"
    axe(page)


def test_theme_choice_applies_at_once_and_survives_a_reload(page: Page, axe: AxeCheck) -> None:
    open_with_htmx(page)
    with page.expect_response("**/theme") as saved:
        page.locator("#theme-select").select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert saved.value.status == 204
    reloaded = page.reload()
    assert reloaded is not None
    assert 'data-theme="dark"' in reloaded.text()  # in the server's HTML: no flash of the wrong theme
    expect(page.locator("#theme-select")).to_have_value("dark")
    axe(page)


def test_theme_choice_without_javascript_survives_a_reload(no_js_page: Page) -> None:
    page = no_js_page
    page.goto("/")
    page.locator("#theme-select").select_option("dark")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    reloaded = page.reload()
    assert reloaded is not None
    assert 'data-theme="dark"' in reloaded.text()
    expect(page.locator("#theme-select")).to_have_value("dark")


def test_demo_form_answers_with_a_fragment_and_a_flash(page: Page, axe: AxeCheck) -> None:
    open_with_htmx(page)
    page.evaluate("window.sameDocument = true")  # gone if the browser navigated
    start_url = page.url
    page.locator("#demo-message").fill("Hello from the browser")
    page.locator("#demo-form").get_by_role("button", name="Send").click()
    expect(page.locator("#demo-form")).to_contain_text("Sent with htmx: “Hello from the browser”.")
    expect(page.locator("#flash")).to_contain_text("Message received: Hello from the browser")
    expect(page.locator("#demo-message")).to_have_value("")
    assert page.url == start_url
    assert page.evaluate("window.sameDocument") is True
    axe(page)


def test_empty_demo_message_is_flagged_inline_and_focused(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/demo")
    open_with_htmx(page)
    page.locator("#demo-form").get_by_role("button", name="Send").click()
    field = page.locator("#demo-message")
    expect(page.locator("#demo-message-error")).to_have_text("Type a message first.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    axe(page)


def test_demo_form_without_javascript_redirects_with_a_flash(no_js_page: Page) -> None:
    page = no_js_page
    page.goto("/")
    page.locator("#demo-message").fill("Hello without scripts")
    page.locator("#demo-form").get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/#demo$"))
    expect(page.locator("#flash")).to_contain_text("Message received: Hello without scripts")


def test_empty_demo_message_without_javascript_gets_a_422_page(
    no_js_page: Page, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(422, "/demo")
    page = no_js_page
    page.goto("/")
    with page.expect_response("**/demo") as answer:
        page.locator("#demo-form").get_by_role("button", name="Send").click()
    assert answer.value.status == 422
    assert answer.value.headers["content-type"].startswith("text/html")
    expect(page.locator("#demo-message-error")).to_have_text("Type a message first.")
    expect(page.locator("#demo-message")).to_have_attribute("aria-invalid", "true")


def test_unknown_address_shows_the_404_page(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(404, "/no-such-page")
    response = page.goto("/no-such-page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator(".error-code")).to_have_text("404")
    expect(page.get_by_role("link", name="Back to the home page")).to_be_visible()
    axe(page)


def test_dev_mailbox_shows_a_sent_test_message(page: Page, axe: AxeCheck) -> None:
    page.goto("/dev/mailbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    axe(page)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Test message queued for developer@example.com.")
    message_link = page.get_by_role("link", name=TEST_MAIL_SUBJECT).first
    reload_until_visible(page, message_link)  # a background job delivers it
    axe(page)
    message_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TEST_MAIL_SUBJECT)
    expect(page.locator("iframe.mail-frame")).to_have_attribute("title", "HTML version of the message")
    expect(page.frame_locator("iframe.mail-frame").get_by_text("Mail delivery works")).to_be_visible()
    axe(page)
