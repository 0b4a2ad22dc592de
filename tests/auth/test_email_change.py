"""Changing the address: sudo, a link to the new address, notices to the old one, no enumeration [44]-[46]."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import email_change
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.auth.core.toolkit import security_of
from app.auth.models import AuthSession, EmailToken, RememberToken, User
from app.mail.models import MailboxMessage
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.accounts import sudo as reauthenticate
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

ADA = "ada@example.com"
NEW = "ada.new@example.org"
LINK = re.compile(r"(http://[^/\s]+/settings/email/confirm\?token=[A-Za-z0-9_\-]+)")
SENT = "We sent a confirmation link to {}. Your address changes when you open it."
EXPIRED = "This link has expired or was already used"


async def ask_for_change(web: WebClient, new: str = NEW, **kwargs: object) -> httpx.Response:
    await web.get("/settings/email")
    return await web.submit("/settings/email", {"email": new}, **kwargs)  # type: ignore[arg-type]


async def link_in(mailbox: Mailbox, to: str, count: int = 1) -> str:
    """The confirmation link of the newest (count-th) mail to `to`, as an app path."""
    message = (await mailbox.wait_for(to, count=count))[-1]
    assert message.subject == "Confirm your new Gatehouse address"
    found = LINK.search(message.text_body)
    assert found is not None
    return found.group(1).removeprefix(BASE_URL)


async def confirm(browser: WebClient, link: str) -> httpx.Response:
    await browser.get(link)
    return await browser.submit("/settings/email/confirm")


async def can_sign_in(web: WebClient, email: str) -> bool:
    browser = web.other_browser()
    await browser.get("/login")
    response = await browser.submit("/login", {"email": email, "password": DEFAULT_PASSWORD})
    return response.status_code == 303


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def sudo(web: WebClient, next_path: str = "/settings/email") -> None:
    await reauthenticate(web, next_path)


REQUESTED = "Someone asked to change the email address of your Gatehouse account"


async def all_mail(db: AsyncSession) -> list[tuple[str, str]]:
    rows = await db.execute(select(MailboxMessage.to_addr, MailboxMessage.subject))
    return sorted((to, subject) for to, subject in rows.all())


async def change_tokens(db: AsyncSession) -> int:
    query = select(func.count()).select_from(EmailToken).where(EmailToken.purpose == "change_email")
    return int(await db.scalar(query) or 0)


# --- asking for a change [44]


async def test_changing_the_address_needs_sudo(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    refused = await ask_for_change(web, headers={"referer": f"{BASE_URL}/settings/email"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/sudo?next=/settings/email"
    assert await change_tokens(db) == 0
    await sudo(web)
    assert (await ask_for_change(web)).status_code == 303
    await mailbox.wait_for(NEW)
    await mailbox.wait_for(ADA)
    assert len(await all_mail(db)) == 2, "the refused request mailed nothing"


async def test_asking_mails_a_link_to_the_new_address_and_a_notice_to_the_old_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    response = await ask_for_change(web)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/email"
    page = await web.get("/settings/email")
    assert SENT.format(NEW) in page.text
    assert f"Waiting for confirmation of <strong>{NEW}</strong>" in page.text
    await link_in(mailbox, NEW)
    [notice] = await mailbox.wait_for(ADA)
    assert notice.subject == REQUESTED
    assert NEW in notice.text_body
    assert "http://testserver.local/forgot-password" in notice.text_body
    assert "cancels the pending" in notice.text_body
    assert len(await all_mail(db)) == 2
    assert not await can_sign_in(web, NEW), "nothing changes until the link is used"
    assert await can_sign_in(web, ADA)


async def test_the_same_address_in_another_case_is_refused_inline(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    response = await ask_for_change(web, "ADA@Example.com")
    assert response.status_code == 422
    assert "That is already your address." in response.text
    assert 'aria-invalid="true"' in response.text
    fragment = await web.submit("/settings/email", {"email": "ADA@Example.com"}, htmx=True)
    assert fragment.status_code == 422
    assert fragment.text.startswith('<form id="email-form"')
    assert await change_tokens(db) == 0


async def test_an_address_the_adapter_does_not_allow_is_refused_before_anything_is_stored(
    accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A product that only lets its own domain hold accounts says so once, in the adapter.
    adapter = security_of(app).adapter
    monkeypatch.setattr(adapter, "is_open_for_signup", lambda request, email: email.endswith("@example.com"))
    await accounts.create(ADA)
    await accounts.login(web)
    response = await ask_for_change(web, NEW)  # @example.org
    assert response.status_code == 422
    assert "This address cannot be used for an account here." in response.text
    assert await change_tokens(db) == 0
    assert (await ask_for_change(web, "ada.other@example.com")).status_code == 303


async def test_a_line_break_in_the_new_address_is_refused_and_nothing_is_mailed(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    # Addresses of its own: with the Redis queue, an earlier test's mail may still land meanwhile.
    old, new = "lin@example.com", "lin.new@example.org"
    await accounts.create(old)
    await accounts.login(web, old)
    response = await ask_for_change(web, f"{new}\r\nBcc: victim@example.com")
    assert response.status_code == 422
    assert "line breaks" in response.text
    assert await change_tokens(db) == 0
    await ask_for_change(web, new)  # a valid request afterwards: its two mails are the only ones
    await mailbox.wait_for(new)
    await mailbox.wait_for(old, subject=REQUESTED)
    sent = await all_mail(db)
    assert not [to for to, _ in sent if "victim" in to or "\n" in to], sent
    assert [to for to, _ in sent if to == new] == [new]
    assert [to for to, subject in sent if to == old and subject == REQUESTED] == [old]


async def test_the_link_is_built_from_the_configured_base_url(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web, headers={"x-forwarded-host": "evil.example"})
    [message] = await mailbox.wait_for(NEW)
    found = LINK.search(message.text_body)
    assert found is not None
    assert found.group(1).startswith("http://testserver.local/")
    assert "evil.example" not in message.text_body + message.html_body


async def test_over_the_mail_limit_the_answer_is_the_same_and_the_mail_is_dropped(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    for _ in range(6):
        response = await ask_for_change(web)
        assert (response.status_code, response.headers["location"]) == (303, "/settings/email")
    await mailbox.wait_for(ADA, count=6)
    await mailbox.wait_for(NEW, count=5)
    assert sum(1 for to, _ in await all_mail(db) if to == NEW) == 5


# --- no enumeration [46]


async def test_a_taken_address_gets_the_same_answer_but_no_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.create("other@example.com")
    await accounts.login(web)
    free = await ask_for_change(web, "free@example.com")
    free_page = (await web.get("/settings/email")).text
    taken = await ask_for_change(web, "Other@Example.com")
    taken_page = (await web.get("/settings/email")).text
    assert (free.status_code, free.headers["location"]) == (taken.status_code, taken.headers["location"])
    assert SENT.format("free@example.com") in free_page
    assert SENT.format("Other@example.com") in taken_page
    assert "Waiting for confirmation of <strong>Other@example.com</strong>" in taken_page
    [in_use] = await mailbox.wait_for("other@example.com")
    assert in_use.subject == "Someone tried to use your address for another Gatehouse account"
    assert LINK.search(in_use.text_body) is None
    assert "nothing was changed" in in_use.text_body
    notices = await mailbox.wait_for(ADA, count=2)
    assert {n.subject for n in notices} == {
        "Someone asked to change the email address of your Gatehouse account"
    }
    owner = (await db.scalars(select(User).where(User.email == "other@example.com"))).one()
    assert (
        await db.scalar(select(func.count()).select_from(EmailToken).where(EmailToken.user_id == owner.id))
        == 0
    )


# --- confirming [44][45]


async def test_confirming_moves_sign_in_to_the_new_address_and_tells_the_old_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    response = await confirm(web, await link_in(mailbox, NEW))
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/profile"
    assert f"Your address is now {NEW}." in (await web.get("/settings/profile")).text
    await db.refresh(user)
    assert (user.email, user.email_canonical) == (NEW, NEW)
    assert await can_sign_in(web, NEW)
    assert not await can_sign_in(web, ADA)
    changed = [m for m in await mailbox.wait_for(ADA, count=2) if "was changed" in m.subject]
    assert [m.subject for m in changed] == ["The email address of your Gatehouse account was changed"]
    assert NEW in changed[0].text_body


async def test_getting_the_link_twice_never_spends_it(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    landing = await web.get(link, follow_redirects=False)
    assert landing.status_code == 303
    assert landing.headers["location"] == "/settings/email/confirm"
    assert landing.headers["referrer-policy"] == "no-referrer"
    for _ in range(2):  # mail scanners fetch links; that must not use them up
        page = await web.get("/settings/email/confirm")
        assert f"Confirm <strong>{NEW}</strong> as the address of your account" in page.text
        assert "token=" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
    assert (await web.submit("/settings/email/confirm")).status_code == 303


async def test_a_used_link_cannot_be_used_again(accounts: Accounts, web: WebClient, mailbox: Mailbox) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    assert (await confirm(web, link)).status_code == 303
    again = await confirm(web.other_browser(), link)
    assert again.status_code == 410
    assert EXPIRED in again.text


async def test_a_newer_request_invalidates_the_older_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web, "first@example.com")
    first = await link_in(mailbox, "first@example.com")
    await ask_for_change(web, "second@example.com")
    second = await link_in(mailbox, "second@example.com")
    refused = await confirm(web, first)
    assert refused.status_code == 410
    assert EXPIRED in refused.text
    assert (await confirm(web, second)).status_code == 303
    await db.refresh(user)
    assert user.email == "second@example.com"


async def test_the_link_expires_after_a_day(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    clock.advance(timedelta(hours=24, seconds=1))
    await web.get(link)
    assert EXPIRED in (await web.get("/settings/email/confirm")).text
    assert (await web.submit("/settings/email/confirm")).status_code == 410
    await db.refresh(user)
    assert user.email == ADA


async def test_the_link_works_in_a_signed_out_browser_and_signs_everyone_out(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create(ADA)
    await accounts.login(web, remember="on")
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    clock.advance(timedelta(hours=23, minutes=59))
    elsewhere = web.other_browser()
    response = await confirm(elsewhere, link)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert "session" not in elsewhere.cookies
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0
    assert not await signed_in(web)
    assert await can_sign_in(web, NEW)


async def test_confirming_signs_out_other_browsers_but_not_this_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    laptop = web.other_browser()
    await accounts.login(laptop, remember="on")
    await accounts.login(web, remember="on")
    await ask_for_change(web)
    response = await confirm(web, await link_in(mailbox, NEW))
    assert response.headers["location"] == "/settings/profile"
    cleared = [c for c in response.headers.get_list("set-cookie") if c.startswith("remember=")]
    assert cleared, "this browser's remember-me cookie is dropped with its revoked token"
    assert await signed_in(web)
    assert not await signed_in(laptop), "its remember-me cookie must not sign it straight back in"
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 1
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0


async def test_a_browser_signed_in_as_someone_else_cannot_use_the_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.create("eve@example.com")
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    eve = web.other_browser()
    await accounts.login(eve, "eve@example.com")
    await eve.get(link)
    assert EXPIRED in (await eve.get("/settings/email/confirm")).text
    assert (await eve.submit("/settings/email/confirm")).status_code == 410
    await db.refresh(user)
    assert user.email == ADA
    assert (await confirm(web, link)).status_code == 303, "the owner's link was not used up"


async def test_cancelling_kills_the_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    cancelled = await web.submit("/settings/email/cancel")
    assert cancelled.headers["location"] == "/settings/email"
    page = await web.get("/settings/email")
    assert "The change was cancelled." in page.text
    assert "Waiting for confirmation" not in page.text
    assert (await confirm(web, link)).status_code == 410
    await db.refresh(user)
    assert user.email == ADA


async def test_resetting_the_password_cancels_the_pending_change(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    owner = web.other_browser()  # the owner, warned by the notice, resets the password
    await owner.get("/forgot-password")
    await owner.submit("/forgot-password", {"email": ADA})
    [reset] = [
        m for m in await mailbox.wait_for(ADA, count=2) if m.subject == "Reset your Gatehouse password"
    ]
    found = re.search(r"http://testserver\.local(/reset-password\?token=[A-Za-z0-9_\-]+)", reset.text_body)
    assert found is not None
    await owner.get(found.group(1))
    assert (
        await owner.submit("/reset-password", {"password": "a brand new passphrase 2027"})
    ).status_code == 303
    assert (await confirm(web.other_browser(), link)).status_code == 410
    await db.refresh(user)
    assert user.email == ADA


# --- uniqueness at confirmation [46]


async def test_two_users_racing_for_one_address_the_first_to_confirm_wins(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    ada = await accounts.create(ADA)
    bob = await accounts.create("bob@example.com")
    await accounts.login(web)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, "bob@example.com")
    await ask_for_change(web, "shared@example.com")
    adas_link = await link_in(mailbox, "shared@example.com")
    await ask_for_change(bobs_browser, "shared@example.com")
    bobs_link = await link_in(mailbox, "shared@example.com", count=2)
    assert (await confirm(web, adas_link)).status_code == 303
    late = await confirm(bobs_browser, bobs_link)
    assert late.status_code == 410
    assert EXPIRED in late.text
    await db.refresh(ada)
    await db.refresh(bob)
    assert (ada.email, bob.email) == ("shared@example.com", "bob@example.com")
    assert await signed_in(bobs_browser), "a refused confirmation changes nothing, sessions included"


async def test_a_unique_violation_at_the_last_moment_counts_as_taken(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    link = await link_in(mailbox, NEW)
    await accounts.create(NEW)  # someone registers the address after the link went out...

    async def nobody_has_it(*_: object) -> None:  # ...between the check and the write
        return None

    monkeypatch.setattr(email_change, "_account_with", nobody_has_it)
    response = await confirm(web, link)
    assert response.status_code == 410
    await db.refresh(user)
    assert user.email == ADA
    assert await signed_in(web)


# --- audit


async def test_the_audit_trail_keeps_the_new_domain_not_the_address(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await accounts.login(web)
    await ask_for_change(web)
    await confirm(web, await link_in(mailbox, NEW))
    events = (
        await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("account.email_change.%"))
            .order_by(AuditEvent.seq)
        )
    ).all()
    assert [(e.action, e.details) for e in events] == [
        ("account.email_change.requested", {"new_domain": "example.org"}),
        ("account.email_change.confirmed", {"new_domain": "example.org"}),
    ]
