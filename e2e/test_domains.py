"""Verified domains in a real browser: add a domain, publish its record on the test DNS server,
verify it, and a colleague at that domain is offered to join. Screenshots at 1280 and 360 px."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from e2e.support import ConsoleWatcher
from e2e.test_accounts import DASHBOARD, confirm_by_link, confirmation_mail, register, unique_email
from e2e.test_email_flows import EveryPage, flash, heading
from e2e.test_orgs import SCREENSHOTS, create_org, sign_up
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def check(axe: Callable[[Page], None]) -> EveryPage:
    """`check(page)` after every step: axe on each page this test has not checked yet."""
    return EveryPage(axe)


def test_a_domain_is_verified_and_a_colleague_is_offered_to_join(
    page: Page, check: EveryPage, dns_server: DnsServer
) -> None:
    sign_up(page, "domains", check)
    team = f"Widgets {uuid4().hex[:6]}"
    slug = create_org(page, team, check)
    domain = f"widgets-{uuid4().hex[:6]}.io"

    page.goto(f"/o/{slug}/settings")
    page.get_by_role("link", name="Domains").click()
    expect(heading(page)).to_have_text("Domains")
    check(page, "empty")
    page.get_by_label("Add a domain").fill(domain.upper())
    page.get_by_role("button", name="Add domain").click()
    expect(flash(page)).to_contain_text(f"{domain} added.")
    record = page.locator(".dns-record").first
    expect(record).to_contain_text(f"_gatehouse-challenge.{domain}")
    value = record.locator("code.copyable").nth(1).inner_text()
    assert re.fullmatch(r"gatehouse-verification=[A-Za-z0-9_\-]{32}", value), value

    page.get_by_role("button", name=f"Verify now {domain}").click()
    expect(flash(page)).to_contain_text("Nothing is published at")
    check(page, "pending")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "domains-1280-pending.png", full_page=True)

    dns_server.set_txt(f"_gatehouse-challenge.{domain}", value)
    page.wait_for_timeout(1_100)  # checks of one domain are paced (1 s on the live server)
    page.get_by_role("button", name=f"Verify now {domain}").click()
    expect(flash(page)).to_contain_text(f"{domain} is verified.")
    page.get_by_label("People with a confirmed address at a verified domain may join as members").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(flash(page)).to_contain_text("Saved.")
    check(page, "verified")
    page.screenshot(path=SCREENSHOTS / "domains-1280.png", full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=SCREENSHOTS / "domains-360.png", full_page=True)

    # A colleague registers with an address at the domain and is offered to join.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 800})
    colleague = f"carl-{uuid4().hex[:6]}@{domain}"
    register(page, colleague, check=check)
    confirm_by_link(page, confirmation_mail(page, colleague).link, check=check)
    expect(page).to_have_url(DASHBOARD)
    page.goto("/orgs")
    offers = page.locator("#domain-offers")
    expect(offers).to_contain_text(f"Your address is at {domain}")
    check(page, "offer")
    page.screenshot(path=SCREENSHOTS / "domain-offer-1280.png", full_page=True)
    offers.get_by_role("button", name=f"Join {team}").click()
    expect(flash(page)).to_contain_text(f"Welcome to {team}.")
    expect(heading(page)).to_have_text(team)


def test_the_domains_page_works_without_javascript(
    no_js_page: Page, console_errors: ConsoleWatcher, dns_server: DnsServer
) -> None:
    page = no_js_page
    email = unique_email("nojs-domains")
    register(page, email, javascript=False)
    confirm_by_link(page, confirmation_mail(page, email).link)
    expect(page).to_have_url(DASHBOARD)
    domains_path = urlsplit(page.url).path + "domains"
    console_errors.expect_error_response(422, domains_path)  # the refused domain's answer
    page.goto(domains_path)
    expect(heading(page)).to_have_text("Domains")
    page.get_by_label("Add a domain").fill("gmail.com")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator("#domain-error")).to_contain_text("mail provider")
    domain = f"plain-{uuid4().hex[:6]}.io"
    page.get_by_label("Add a domain").fill(domain)
    page.get_by_role("button", name="Add domain").click()
    value = page.locator(".dns-record code.copyable").nth(1).inner_text()
    dns_server.set_txt(f"_gatehouse-challenge.{domain}", value)
    page.get_by_role("button", name=f"Verify now {domain}").click()
    expect(flash(page)).to_contain_text(f"{domain} is verified.")
    page.get_by_role("button", name=f"Remove {domain}").click()
    expect(flash(page)).to_contain_text(f"{domain} removed.")
