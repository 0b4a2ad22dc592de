"""Password reset: no enumeration, single use, newest only, an hour, no sign-in, everything revoked [35]-[40]."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.models import AuthSession, RememberToken, User
from app.mail.models import MailboxMessage
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

NEW_PASSWORD = "a brand new passphrase 2027"
LINK = re.compile(r"(http://[^\s\"]+/reset-password\?token=[A-Za-z0-9_\-]+)")


async def ask(web: WebClient, email: str, **headers: str) -> httpx.Response:
    await web.get("/forgot-password")
    return await web.submit("/forgot-password", {"email": email}, headers=headers or None)


async def reset_link(mailbox: Mailbox, to: str, count: int = 1) -> str:
    message = (await mailbox.wait_for(to, count=count))[-1]
    assert message.subject == "Reset your Gatehouse password"
    match = LINK.search(message.text_body)
    assert match is not None
    return match.group(1)


async def use(web: WebClient, link: str, password: str = NEW_PASSWORD) -> httpx.Response:
    await web.get(link.removeprefix("http://testserver.local"))
    return await web.submit("/reset-password", {"password": password})


async def can_sign_in(web: WebClient, password: str, email: str = "ada@example.com") -> bool:
    browser = web.other_browser()
    await browser.get("/login")
    return (await browser.submit("/login", {"email": email, "password": password})).status_code == 303


def cookie_shapes(response: httpx.Response) -> list[str]:
    """The Set-Cookie headers with each value blanked: names and attributes only."""
    return sorted(
        re.sub(r"=[^;]*", "=", header, count=1) for header in response.headers.get_list("set-cookie")
    )


async def mails(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(MailboxMessage)) or 0)


async def test_asking_looks_the_same_for_known_and_unknown_addresses(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    known, unknown = await ask(web, "ada@example.com"), await ask(web, "nobody@example.com")
    for response in (known, unknown):
        assert response.status_code == 303
        assert response.headers["location"] == "/forgot-password/sent"
    # The same cookies either way; their values only carry the typed address back to the next page.
    assert cookie_shapes(known) == cookie_shapes(unknown)
    await mailbox.wait_for("ada@example.com")
    assert await mails(db) == 1
    assert await can_sign_in(web, DEFAULT_PASSWORD), "asking changes nothing"


async def test_the_inbox_page_repeats_the_address_asked_for(web: WebClient) -> None:
    await ask(web, "Nobody@Example.com")
    page = await web.get("/forgot-password/sent")
    assert '<strong class="address">Nobody@example.com</strong>' in page.text


async def test_an_address_that_is_not_one_is_refused_without_saying_anything_about_accounts(
    web: WebClient, db: AsyncSession
) -> None:
    await web.get("/forgot-password")
    response = await web.submit("/forgot-password", {"email": "not-an-email"})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert "account" not in response.text.split('class="field-error">')[1].split("</p>")[0].lower()
    assert await mails(db) == 0


async def test_the_link_sets_a_new_password_and_does_not_sign_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    page = await web.get(link.removeprefix("http://testserver.local"), follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/reset-password"
    assert page.headers["referrer-policy"] == "no-referrer"
    form = await web.get("/reset-password")
    assert form.headers["referrer-policy"] == "no-referrer"
    assert "token=" not in form.text
    assert re.findall(r'(?:src|href)="(https?://[^"]*)"', form.text) == [], "no third-party resources"
    response = await web.submit("/reset-password", {"password": NEW_PASSWORD})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert not any(c.startswith("session=") for c in response.headers.get_list("set-cookie"))
    assert await can_sign_in(web, NEW_PASSWORD)
    assert not await can_sign_in(web, DEFAULT_PASSWORD)
    [notice] = [m for m in await mailbox.wait_for("ada@example.com", count=2) if "was changed" in m.subject]
    assert "reset" in notice.text_body


async def test_a_used_link_shows_the_expired_page_and_changes_nothing(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create()
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    assert (await use(web, link)).status_code == 303
    await db.refresh(user)
    after_first = user.password_hash
    again = await use(web.other_browser(), link, "yet another passphrase 99")
    assert again.status_code == 410
    assert "expired or was already used" in again.text
    await db.refresh(user)
    assert user.password_hash == after_first


async def test_only_the_newest_link_works(accounts: Accounts, web: WebClient, mailbox: Mailbox) -> None:
    await accounts.create()
    await ask(web, "ada@example.com")
    first = await reset_link(mailbox, "ada@example.com")
    await ask(web, "ada@example.com")
    second = await reset_link(mailbox, "ada@example.com", count=2)
    assert (await use(web, first)).status_code == 410
    assert (await use(web.other_browser(), second)).status_code == 303


async def test_the_link_expires_after_an_hour(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.create()
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    clock.advance(timedelta(minutes=60, seconds=1))
    assert (await use(web, link)).status_code == 410
    assert await can_sign_in(web, DEFAULT_PASSWORD)


async def test_a_weak_new_password_is_refused_without_spending_the_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    weak = await use(web, link, "short")
    assert weak.status_code == 422
    assert "Use at least 12 characters" in weak.text
    assert (await web.submit("/reset-password", {"password": NEW_PASSWORD})).status_code == 303


async def test_reset_signs_out_every_device_and_forgets_remembered_ones(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop, remember="on")
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    await use(web, link)
    assert (await laptop.get("/settings/profile", follow_redirects=False)).status_code == 303
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0


async def test_the_mail_uses_the_configured_address_never_the_host_header(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(
        web, "ada@example.com", **{"x-forwarded-host": "evil.example", "forwarded": "host=evil.example"}
    )
    link = await reset_link(mailbox, "ada@example.com")
    assert link.startswith("http://testserver.local/reset-password?")
    for message in await mailbox.messages("ada@example.com"):
        assert "evil.example" not in message.text_body + message.html_body
    refused = await web.get("/forgot-password", headers={"host": "evil.example"})
    assert refused.status_code == 400


async def test_a_locked_account_can_still_reset_and_then_sign_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.create()
    attacker = web.other_browser()
    for _ in range(100):
        clock.advance(timedelta(minutes=16))
        await attacker.get("/login")
        await attacker.submit("/login", {"email": "ada@example.com", "password": "guessing wrong"})
    assert not await can_sign_in(web, DEFAULT_PASSWORD)
    await ask(web, "ada@example.com")
    await use(web, await reset_link(mailbox, "ada@example.com"))
    assert await can_sign_in(web, NEW_PASSWORD)


async def test_an_account_without_a_password_can_get_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(password=None)
    await ask(web, "ada@example.com")
    await use(web, await reset_link(mailbox, "ada@example.com"))
    assert await can_sign_in(web, NEW_PASSWORD)


async def test_reset_defeats_a_strangers_pre_registration(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    stranger = web.other_browser()
    await stranger.get("/register")
    await stranger.submit("/register", {"email": "victim@example.com", "password": "strangers password 12"})
    await mailbox.wait_for("victim@example.com")
    await ask(web, "victim@example.com")
    await use(web, await reset_link(mailbox, "victim@example.com", count=2))
    user = (await db.scalars(select(User))).one()
    await db.refresh(user)
    assert user.confirmed_at is not None
    assert not await can_sign_in(web, "strangers password 12", "victim@example.com")
    assert await can_sign_in(web, NEW_PASSWORD, "victim@example.com")


async def test_a_successful_sign_in_retires_outstanding_reset_links(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web, "ada@example.com")
    link = await reset_link(mailbox, "ada@example.com")
    await accounts.login(web.other_browser())
    assert (await use(web, link)).status_code == 410


async def test_the_sixth_reset_request_in_an_hour_sends_no_sixth_mail(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create()
    for number in range(6):
        if number == 5:
            clock.advance(timedelta(minutes=2))  # stay under the per-minute limit on the endpoint
        assert (await ask(web, "ada@example.com")).status_code == 303
    await mailbox.wait_for("ada@example.com", count=5)
    assert await mails(db) == 5
