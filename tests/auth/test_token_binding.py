"""Mailed tokens stay bound to what they were issued for: one browser, one address, one use, one lifetime.

A code or a sign-in link works only in the browser that asked for it, even when that browser is
waiting for a code of its own. A reset link dies once the account's address has moved on. Each
mailed token works once and only within its policy lifetime. Unsafe requests from a sibling
subdomain (`Sec-Fetch-Site: same-site`) are refused like cross-site ones.

Everything goes through HTTP and the mailbox; the database is only read, except in the one test
that says why it writes.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar
from litestar.testing.transport import TestClientTransport as AppTransport
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.policy import SecurityPolicy
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

ADA = "ada@example.com"
EVE = "eve@example.com"
NEW = "ada.new@example.org"
NEW_PASSWORD = "a brand new passphrase 2027"
SIBLING = "http://blog.testserver.local"  # another subdomain of the same site

CODE = re.compile(r"\b(\d{3}) (\d{3})\b")
MAGIC_LINK = re.compile(r"http://testserver\.local(/login/email/link\?token=[A-Za-z0-9_\-]+)")
CONFIRM_LINK = re.compile(r"http://testserver\.local(/confirm-email\?token=[A-Za-z0-9_\-]+)")
RESET_LINK = re.compile(r"http://testserver\.local(/reset-password\?token=[A-Za-z0-9_\-]+)")
CHANGE_LINK = re.compile(r"http://testserver\.local(/settings/email/confirm\?token=[A-Za-z0-9_\-]+)")

MAGIC_SUBJECT = "Sign in to Gatehouse"
CONFIRM_SUBJECT = "Confirm your Gatehouse account"
RESET_SUBJECT = "Reset your Gatehouse password"
CHANGE_SUBJECT = "Confirm your new Gatehouse address"


def policy(app: Litestar) -> SecurityPolicy:
    """The security policy of the app under test (lifetimes come from here, not from the test)."""
    current: SecurityPolicy = app.state.security.policy
    return current


async def newest(mailbox: Mailbox, to: str, subject: str, pattern: re.Pattern[str], count: int = 1) -> str:
    """The first match of `pattern` in the `count`-th mail with `subject` to `to`."""
    message = (await mailbox.wait_for(to, count=count, subject=subject))[-1]
    found = pattern.search(message.text_body)
    assert found is not None, message.text_body
    return found.group(1) if pattern.groups == 1 else found.group(1) + found.group(2)


# --- the flows, as a browser drives them


async def ask_for_sign_in_mail(web: WebClient, email: str) -> None:
    await web.get("/login/email")
    response = await web.submit("/login/email", {"email": email})
    assert response.status_code == 303, response.text[:300]


async def sign_in_code(mailbox: Mailbox, to: str, count: int = 1) -> str:
    return await newest(mailbox, to, MAGIC_SUBJECT, CODE, count)


async def sign_in_link(mailbox: Mailbox, to: str, count: int = 1) -> str:
    return await newest(mailbox, to, MAGIC_SUBJECT, MAGIC_LINK, count)


async def register(web: WebClient, email: str) -> None:
    await web.get("/register")
    response = await web.submit("/register", {"email": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 303, response.text[:300]


async def confirmation_code(mailbox: Mailbox, to: str) -> str:
    return await newest(mailbox, to, CONFIRM_SUBJECT, CODE)


async def ask_for_reset(web: WebClient, email: str) -> None:
    await web.get("/forgot-password")
    assert (await web.submit("/forgot-password", {"email": email})).status_code == 303


async def reset_link(mailbox: Mailbox, to: str, count: int = 1) -> str:
    return await newest(mailbox, to, RESET_SUBJECT, RESET_LINK, count)


async def use_reset_link(web: WebClient, link: str, password: str = NEW_PASSWORD) -> httpx.Response:
    await web.get(link)
    return await web.submit("/reset-password", {"password": password})


async def change_address(web: WebClient, mailbox: Mailbox, new: str, count: int = 1) -> None:
    """Ask for a change to `new` and confirm it with the mailed link, in this signed-in browser."""
    await web.get("/settings/email")
    assert (await web.submit("/settings/email", {"email": new})).status_code == 303
    await web.get(await newest(mailbox, new, CHANGE_SUBJECT, CHANGE_LINK, count))
    confirmed = await web.submit("/settings/email/confirm")
    assert confirmed.status_code == 303, confirmed.text[:300]


# --- what the database says


async def sessions(db: AsyncSession) -> int:
    return int(await db.scalar(text("SELECT count(*) FROM auth_sessions")) or 0)


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def can_sign_in(web: WebClient, email: str, password: str) -> bool:
    browser = web.other_browser()
    await browser.get("/login")
    return (await browser.submit("/login", {"email": email, "password": password})).status_code == 303


def twin_of(browser: WebClient) -> WebClient:
    """A copy of `browser` as it is now: the same cookies and CSRF token (a replayed or copied jar)."""
    twin = browser.other_browser()
    twin.jar = httpx.Cookies(browser.jar)
    twin.csrf_token = browser.csrf_token
    return twin


async def submit_at_once(path: str, data: dict[str, str], *browsers: WebClient) -> list[httpx.Response]:
    """POST `data` to `path` from every browser at the same moment.

    The test client blocks its caller until a response is complete, so requests sent from threads
    of their own are what really overlap inside the app (see test_magic_link.py).
    """

    def send(browser: WebClient) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in browser.jar.items())
        headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", "cookie": cookie}
        body = {"_csrf_token": browser.csrf_token or "", **data}
        request = browser.client.build_request("POST", path, data=body, headers=headers)
        response = AppTransport(browser.client).handle_request(request)
        response.read()
        return response

    return list(await asyncio.gather(*(asyncio.to_thread(send, browser) for browser in browsers)))


# --- codes and links are bound to the browser that asked, even one that asked for its own


@pytest.mark.needs_features("magic_link")
async def test_a_sign_in_code_typed_in_a_browser_waiting_for_its_own_code_does_not_sign_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.create(EVE)
    eve = web.other_browser()
    await ask_for_sign_in_mail(eve, EVE)  # Eve's browser holds a `magic` cookie of its own
    await ask_for_sign_in_mail(web, ADA)
    adas_code = await sign_in_code(mailbox, ADA)
    refused = await eve.submit("/login/email/code", {"code": adas_code})
    assert refused.status_code == 422
    assert "session" not in eve.cookies
    assert not await signed_in(eve)
    assert await sessions(db) == 0
    assert (await web.submit("/login/email/code", {"code": adas_code})).status_code == 303


async def test_a_registration_code_typed_in_a_browser_that_registered_another_address_confirms_nothing(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    eve = web.other_browser()
    await register(eve, EVE)  # Eve's browser waits for a code of its own
    await register(web, ADA)
    adas_code = await confirmation_code(mailbox, ADA)
    refused = await eve.submit("/register/confirm-code", {"code": adas_code})
    assert refused.status_code == 422
    assert "session" not in eve.cookies
    assert await sessions(db) == 0
    confirmed = await db.scalars(text("SELECT email FROM users WHERE confirmed_at IS NOT NULL"))
    assert confirmed.all() == []


@pytest.mark.needs_features("magic_link")
async def test_a_sign_in_link_opened_in_a_browser_that_asked_for_its_own_link_signs_nobody_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.create(EVE)
    eve = web.other_browser()
    await ask_for_sign_in_mail(eve, EVE)
    await ask_for_sign_in_mail(web, ADA)
    adas_link = await sign_in_link(mailbox, ADA)
    page = await eve.get(adas_link)
    assert "Open this link on the device where you asked for it" in page.text
    assert 'action="/login/email/link"' not in page.text
    assert ADA not in page.text
    refused = await eve.submit("/login/email/link")
    assert refused.status_code == 403
    assert "session" not in eve.cookies
    assert not await signed_in(eve)
    assert await sessions(db) == 0, "no session for Ada, none for Eve"


# --- a sibling subdomain is not our origin


async def test_a_same_site_post_is_refused_even_with_a_valid_token(web: WebClient) -> None:
    response = await web.submit(
        "/demo", {"message": "hi"}, headers={"sec-fetch-site": "same-site", "origin": SIBLING}
    )
    assert response.status_code == 403


async def test_a_sign_in_posted_from_a_sibling_subdomain_starts_no_session(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await web.get("/login")
    response = await web.submit(
        "/login",
        {"email": ADA, "password": DEFAULT_PASSWORD},
        headers={"sec-fetch-site": "same-site", "origin": SIBLING},
    )
    assert response.status_code == 403
    assert "session" not in web.cookies
    assert await sessions(db) == 0


# --- a reset link does not outlive the address it was sent to
#
# Two safeguards stand behind this: confirming an address change retires the account's reset
# links, and completing a reset checks that the link's address is still the account's. The first
# test is guarded by both (it fails only when both are gone); each of the next two is guarded by
# exactly one of them.


async def test_a_reset_link_sent_before_an_address_change_is_dead_after_it(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    old_mailbox = web.other_browser()  # whoever still reads the old address
    await ask_for_reset(old_mailbox, ADA)
    link = await reset_link(mailbox, ADA)
    await change_address(web, mailbox, NEW)
    refused = await use_reset_link(old_mailbox, link)
    assert refused.status_code == 410
    assert "expired or was already used" in refused.text
    assert await can_sign_in(web, NEW, DEFAULT_PASSWORD)
    assert not await can_sign_in(web, NEW, NEW_PASSWORD)


async def test_a_reset_link_sent_before_an_address_change_stays_dead_when_the_address_changes_back(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    # Guarded by the retirement alone: once the address is back, the link's address matches again.
    await accounts.create(ADA)
    await accounts.login(web)
    old_mailbox = web.other_browser()
    await ask_for_reset(old_mailbox, ADA)
    link = await reset_link(mailbox, ADA)
    await change_address(web, mailbox, NEW)
    await change_address(web, mailbox, ADA)
    refused = await use_reset_link(old_mailbox, link)
    assert refused.status_code == 410
    assert await can_sign_in(web, ADA, DEFAULT_PASSWORD)
    assert not await can_sign_in(web, ADA, NEW_PASSWORD)


async def test_a_reset_link_for_the_old_address_that_escaped_retirement_is_still_refused(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    # Guarded by the address check alone. A reset asked for at the moment the change commits can be
    # issued for the old address after the change retired the others; no request sequence gets
    # there without that race, so the test puts the link back in that state with one UPDATE.
    await accounts.create(ADA)
    await accounts.login(web)
    old_mailbox = web.other_browser()
    await ask_for_reset(old_mailbox, ADA)
    link = await reset_link(mailbox, ADA)
    await change_address(web, mailbox, NEW)
    await db.execute(text("UPDATE email_tokens SET used_at = NULL WHERE purpose = 'reset_password'"))
    await db.commit()
    refused = await use_reset_link(old_mailbox, link)
    assert refused.status_code == 410
    assert await can_sign_in(web, NEW, DEFAULT_PASSWORD)
    assert not await can_sign_in(web, NEW, NEW_PASSWORD)


# --- once, and within the policy lifetime (the cases the flows' own test files do not cover yet)


@pytest.mark.needs_features("magic_link")
async def test_a_sign_in_code_works_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await ask_for_sign_in_mail(web, ADA)
    code = await sign_in_code(mailbox, ADA)
    replay = twin_of(web)  # keeps the `magic` cookie the successful sign-in clears
    assert (await web.submit("/login/email/code", {"code": code})).status_code == 303
    again = await replay.submit("/login/email/code", {"code": code})
    assert again.status_code == 422
    assert "expired or was used up" in again.text
    assert "session" not in replay.cookies
    assert await sessions(db) == 1


@pytest.mark.needs_features("magic_link")
async def test_a_sign_in_code_expires_at_the_end_of_its_policy_lifetime(
    app: Litestar, accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create(ADA)
    await ask_for_sign_in_mail(web, ADA)
    code = await sign_in_code(mailbox, ADA)
    clock.advance(policy(app).magic_link_ttl + timedelta(seconds=1))
    refused = await web.submit("/login/email/code", {"code": code})
    assert refused.status_code == 422
    assert "expired or was used up" in refused.text
    assert await sessions(db) == 0


async def test_two_simultaneous_resets_with_one_link_set_the_password_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    # The reset page checks the link before the slow password check; only the spend itself can
    # stop the second of two requests that both got past that check.
    await accounts.create(ADA)
    await ask_for_reset(web, ADA)
    await web.get(await reset_link(mailbox, ADA))
    first, second = await submit_at_once("/reset-password", {"password": NEW_PASSWORD}, web, twin_of(web))
    assert sorted([first.status_code, second.status_code]) == [303, 410]


async def test_two_simultaneous_confirmations_of_one_address_change_spend_the_link_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await web.get("/settings/email")
    await web.submit("/settings/email", {"email": NEW})
    await web.get(await newest(mailbox, NEW, CHANGE_SUBJECT, CHANGE_LINK))
    first, second = await submit_at_once("/settings/email/confirm", {}, web, twin_of(web))
    assert sorted([first.status_code, second.status_code]) == [303, 410]
    await db.refresh(user)
    assert user.email == NEW
