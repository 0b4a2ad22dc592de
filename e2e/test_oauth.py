"""Signing in with identity providers in a real browser, against a real provider on another site.

The providers (`tests/support/oidc_provider.py`) are served at `localhost`, the app at
`127.0.0.1`: different sites, as in production, so the browser's way back from the provider is a
cross-site top-level navigation and the `oauth` cookie (SameSite=Lax) must ride along. This module
runs its own live server, configured with the two providers; relative URLs resolve against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import LIVE_SERVER_ENV
from e2e.support import ConsoleWatcher, LiveServer, ServerStartError
from e2e.test_accounts import (
    PASSWORD,
    AxeCheck,
    expect_signed_in,
    fill_sign_in,
    register_and_confirm,
    sign_out,
    unique_email,
)
from tests.support.database import fresh_database
from tests.support.oidc_provider import IdentityProviderServer

pytestmark = pytest.mark.e2e

SECRET = "e2e-client-secret-" + "x" * 32
KEYS = ("alpha", "beta")


@pytest.fixture(scope="module")
def providers() -> Iterator[IdentityProviderServer]:
    """Two OpenID Connect providers, Alpha and Beta, on their own site (`localhost`)."""
    server = IdentityProviderServer(host="localhost")
    for key in KEYS:
        server.tenant(key).register("gatehouse", SECRET, "unknown-yet")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth_live_server(
    providers: IdentityProviderServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app, configured with both providers, on a freshly migrated database of its own."""
    settings = [providers.tenants[key].setting(key) for key in KEYS]
    env = {**LIVE_SERVER_ENV, "OAUTH_PROVIDERS": json.dumps(settings)}
    log_path = tmp_path_factory.mktemp("oauth_live_server") / "server.log"
    server = LiveServer.start(fresh_database("e2e_oauth"), log_path, env)
    try:
        server.wait_until_healthy()
    except ServerStartError as exc:
        server.stop()
        pytest.fail(f"live server did not start: {exc}\n{server.log_tail()}", pytrace=False)
    for key in KEYS:  # now that its port is known, the app's exact redirect URIs
        providers.tenants[key].register("gatehouse", SECRET, f"{server.url}/auth/oauth/{key}/callback")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser_context_args(oauth_live_server: LiveServer) -> dict[str, str]:
    """Relative URLs in this module go to the OAuth-configured server."""
    return {"base_url": oauth_live_server.url}


def at_provider(page: Page, name: str, *, subject: str, email: str, allow: bool = True) -> None:
    """Sign in at the provider's page as `subject` with `email`, and allow (or deny) the app."""
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {name}")
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Allow" if allow else "Deny").click()


def continue_with(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Continue with {name.title()}").click()


def test_sign_up_sign_in_again_then_connect_and_disconnect_a_second_provider(
    page: Page, axe: AxeCheck
) -> None:
    subject, email = f"alpha-{uuid4().hex[:8]}", unique_email("oauth")
    page.goto("/register")
    expect(page.get_by_role("button", name="Continue with Alpha")).to_be_visible()
    axe(page)
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject=subject, email=email)
    expect_signed_in(page, email)

    page.goto("/settings/connected-accounts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connected accounts")
    connected = page.locator("#connected-accounts")
    expect(connected).to_contain_text("Alpha")
    expect(connected).to_contain_text("Your only way to sign in")
    axe(page)

    sign_out(page)
    axe(page)
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject=subject, email=email)
    expect_signed_in(page, email)

    # Connecting needs sudo; this account has no password, so it confirms at its provider.
    page.goto("/settings/connected-accounts")
    page.locator("#available-providers").get_by_role("button", name="Connect Beta").click()
    expect(page).to_have_url(re.compile(r"/sudo\?next="))
    expect(page.get_by_role("status").filter(has_text="Your changes are kept")).to_be_visible()
    axe(page)
    page.get_by_role("link", name="No password? Confirm with your connected account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    axe(page)
    page.get_by_role("button", name=re.compile(r"^Confirm with Alpha")).click()
    at_provider(page, "alpha", subject=subject, email=email)
    # Confirmed: the kept Connect form goes on by itself, to Beta.
    at_provider(page, "beta", subject=f"beta-{uuid4().hex[:8]}", email=email)
    expect(page).to_have_url(re.compile(r"/settings/connected-accounts$"))
    expect(page.get_by_role("status").filter(has_text="Beta is connected")).to_be_visible()
    expect(connected).to_contain_text("Beta")
    axe(page)

    connected.get_by_role("button", name="Disconnect Beta").click()
    expect(page.get_by_role("status").filter(has_text="Disconnected")).to_be_visible()
    expect(connected).not_to_contain_text("Beta")
    expect(connected).to_contain_text("Your only way to sign in")


def test_an_address_that_has_an_account_must_sign_in_first_then_connect(page: Page, axe: AxeCheck) -> None:
    email, subject = unique_email("exists"), f"alpha-{uuid4().hex[:8]}"
    register_and_confirm(page, email)
    sign_out(page)
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject=subject, email=email)
    expect(page).to_have_url(re.compile(r"/login/oauth/account-exists\?provider=alpha$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You already have an account")
    axe(page)
    page.get_by_role("link", name="Sign in to your account").click()
    fill_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/settings/connected-accounts$"))
    page.locator("#available-providers").get_by_role("button", name="Connect Alpha").click()
    at_provider(page, "alpha", subject=subject, email=email)
    expect(page.get_by_role("status").filter(has_text="Alpha is connected")).to_be_visible()

    sign_out(page)
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject=subject, email=email)
    expect_signed_in(page, email)


def test_saying_no_at_the_provider_lands_on_one_clear_page(
    page: Page, axe: AxeCheck, console_errors: ConsoleWatcher
) -> None:
    console_errors.expect_error_response(400, "/auth/oauth/alpha/callback")
    page.goto("/login")
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject="no-one", email=unique_email("deny"), allow=False)
    expect(page.get_by_role("heading", level=1)).to_have_text("That did not work")
    expect(page.get_by_role("alert")).to_contain_text("You did not allow Alpha to sign you in")
    axe(page)
    page.get_by_role("link", name="Back to sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_the_landing_page_works_without_javascript_and_passes_axe(page: Page, axe: AxeCheck) -> None:
    # Keep app.js from sending the form, so the page the provider lands on can be checked as is.
    page.route(
        "**/static/js/app.js*",
        lambda route: route.fulfill(status=200, body="", content_type="text/javascript"),
    )
    email = unique_email("landing")
    page.goto("/login")
    continue_with(page, "alpha")
    at_provider(page, "alpha", subject=f"alpha-{uuid4().hex[:8]}", email=email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Back from Alpha")
    axe(page)
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, email)
