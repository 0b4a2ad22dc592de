"""Registration and confirmation: no enumeration, unusable until confirmed, link and code, pre-hijacking."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.models import AuthSession, User
from app.mail.models import MailboxMessage
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

PASSWORD = DEFAULT_PASSWORD
LINK = re.compile(r"(http://testserver\.local/confirm-email\?token=[A-Za-z0-9_\-]+)")
CODE = re.compile(r"\b(\d{3}) (\d{3})\b")


async def register(
    web: WebClient, email: str, password: str = PASSWORD, *, expect: int = 303
) -> httpx.Response:
    await web.get("/register")
    response = await web.submit("/register", {"email": email, "password": password})
    assert response.status_code == expect, response.text[:500]
    return response


async def confirmation(mailbox: Mailbox, to: str, count: int = 1) -> tuple[str, str]:
    """The link and the code of the newest confirmation mail to `to`."""
    message = (await mailbox.wait_for(to, count=count))[-1]
    assert message.subject == "Confirm your Gatehouse account"
    link = LINK.search(message.text_body)
    code = CODE.search(message.text_body)
    assert link is not None
    assert code is not None
    return link.group(1).removeprefix("http://testserver.local"), code.group(1) + code.group(2)


async def users(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(User)) or 0)


def shape(response: httpx.Response) -> tuple[int, str | None, list[str]]:
    cookies = sorted(value.split("=", 1)[0] for value in response.headers.get_list("set-cookie"))
    return response.status_code, response.headers.get("location"), cookies


async def test_registering_a_taken_address_looks_exactly_like_a_new_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create("taken@example.com")
    new = await register(web, "fresh@example.com")
    taken = await register(web.other_browser(), "Taken@Example.com")
    assert shape(new) == shape(taken) == (303, "/register/check-inbox", ["pending"])
    [to_new] = await mailbox.wait_for("fresh@example.com")
    [to_owner] = await mailbox.wait_for("taken@example.com")
    assert to_new.subject == "Confirm your Gatehouse account"
    assert to_owner.subject == "Someone tried to create a Gatehouse account with your address"
    assert "/login" in to_owner.text_body
    assert await users(db) == 2  # no second account for the taken address


async def test_an_unconfirmed_account_cannot_sign_in(web: WebClient, db: AsyncSession) -> None:
    await register(web, "new@example.com")
    other = web.other_browser()
    await other.get("/login")
    response = await other.submit("/login", {"email": "new@example.com", "password": PASSWORD})
    assert response.status_code == 422
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0


async def test_confirming_with_the_code_signs_in_on_this_browser(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await register(web, "new@example.com")
    page = await web.get("/register/check-inbox")
    assert "We sent a message to <strong>new@example.com</strong>" in page.text
    _, code = await confirmation(mailbox, "new@example.com")
    response = await web.submit("/register/confirm-code", {"code": f"{code[:3]} {code[3:]}"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert (await web.get("/settings/profile")).status_code == 200
    user = (await db.scalars(select(User))).one()
    assert user.confirmed_at is not None
    assert user.password_hash is not None
    await web.submit("/logout")
    await web.get("/login")
    assert (await web.submit("/login", {"email": "new@example.com", "password": PASSWORD})).status_code == 303


async def test_five_wrong_codes_kill_the_code(web: WebClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    await register(web, "new@example.com")
    _, code = await confirmation(mailbox, "new@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    messages = [(await web.submit("/register/confirm-code", {"code": wrong})).text for _ in range(5)]
    assert "4 tries left" in messages[0]
    assert "1 try left" in messages[3]
    assert "expired or was used up" in messages[4]
    response = await web.submit("/register/confirm-code", {"code": code})
    assert response.status_code == 429  # the address must wait first
    clock.advance(timedelta(seconds=2))  # past the throttle's first delay: only the code is dead now
    response = await web.submit("/register/confirm-code", {"code": code})
    assert response.status_code == 422
    assert "expired or was used up" in response.text
    assert "session" not in web.cookies


async def test_asking_for_new_codes_does_not_reset_the_count_of_wrong_ones(
    web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await register(web, "new@example.com")
    _, code = await confirmation(mailbox, "new@example.com")
    for _ in range(5):
        await web.submit("/register/confirm-code", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
    await web.submit("/register/resend")
    _, fresh = await confirmation(mailbox, "new@example.com", count=2)
    refused = await web.submit("/register/confirm-code", {"code": fresh})
    assert refused.status_code == 429  # like a throttled sign-in, and it says how long to wait
    assert refused.headers["retry-after"] == "1"
    assert "Too many wrong codes. Try again in 1 second." in refused.text
    fragment = await web.submit("/register/confirm-code", {"code": fresh}, htmx=True)
    assert fragment.status_code == 429
    assert fragment.headers["retry-after"] == "1"
    assert fragment.headers["cache-control"] == "no-store"
    assert 'id="code-form"' in fragment.text, "htmx swaps the form with its message, as for a 422"
    assert "Too many wrong codes." in fragment.text
    assert "<html" not in fragment.text
    clock.advance(timedelta(seconds=2))
    assert (await web.submit("/register/confirm-code", {"code": fresh})).status_code == 303


async def test_the_code_only_works_in_the_browser_that_registered(web: WebClient, mailbox: Mailbox) -> None:
    await register(web, "new@example.com")
    _, code = await confirmation(mailbox, "new@example.com")
    elsewhere = web.other_browser()
    await elsewhere.get("/register/check-inbox")
    response = await elsewhere.submit("/register/confirm-code", {"code": code})
    assert response.status_code == 422
    assert (await web.submit("/register/confirm-code", {"code": code})).status_code == 303


async def test_the_code_expires_after_ten_minutes(
    web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await register(web, "new@example.com")
    _, code = await confirmation(mailbox, "new@example.com")
    clock.advance(timedelta(minutes=10, seconds=1))
    response = await web.submit("/register/confirm-code", {"code": code})
    assert response.status_code == 422
    assert "expired" in response.text


async def test_the_link_moves_its_token_out_of_the_url_and_a_get_never_spends_it(
    web: WebClient, mailbox: Mailbox
) -> None:
    await register(web, "new@example.com")
    link, _ = await confirmation(mailbox, "new@example.com")
    landing = await web.get(link, follow_redirects=False)
    assert landing.status_code == 303
    assert landing.headers["location"] == "/confirm-email"
    assert landing.headers["referrer-policy"] == "no-referrer"
    for _ in range(2):  # mail scanners fetch links; that must not use them up
        page = await web.get("/confirm-email")
        assert "Confirm my address" in page.text
        assert "token=" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
    response = await web.submit("/confirm-email")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


async def test_a_used_link_shows_the_expired_page_and_changes_nothing(
    web: WebClient, mailbox: Mailbox
) -> None:
    await register(web, "new@example.com")
    link, _ = await confirmation(mailbox, "new@example.com")
    await web.get(link)
    assert (await web.submit("/confirm-email")).status_code == 303
    await web.submit("/logout")
    again = web.other_browser()
    await again.get(link)
    response = await again.submit("/confirm-email")
    assert response.status_code == 410
    assert "expired or was already used" in response.text
    assert "session" not in again.cookies


async def test_the_link_expires_after_a_day(web: WebClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    await register(web, "new@example.com")
    link, _ = await confirmation(mailbox, "new@example.com")
    clock.advance(timedelta(hours=24, seconds=1))
    await web.get(link)
    assert "expired or was already used" in (await web.get("/confirm-email")).text
    assert (await web.submit("/confirm-email")).status_code == 410


async def test_a_newer_confirmation_retires_the_older_link(web: WebClient, mailbox: Mailbox) -> None:
    await register(web, "new@example.com")
    old_link, _ = await confirmation(mailbox, "new@example.com")
    await web.submit("/register/resend")
    new_link, _ = await confirmation(mailbox, "new@example.com", count=2)
    assert new_link != old_link
    await web.get(old_link)
    assert (await web.submit("/confirm-email")).status_code == 410
    await web.get(new_link)
    assert (await web.submit("/confirm-email")).status_code == 303


async def test_a_stranger_who_registered_your_address_first_gets_nothing(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    attacker = web
    await register(attacker, "victim@example.com", "attackers password 123")
    link, _ = await confirmation(mailbox, "victim@example.com")
    # The victim finds the mail and follows the link on their own device.
    victim = web.other_browser()
    await victim.get(link)
    response = await victim.submit("/confirm-email")
    assert response.headers["location"] == "/welcome/password"
    user = (await db.scalars(select(User))).one()
    await db.refresh(user)
    assert user.password_hash is None, "the stranger's password was discarded"
    await victim.get("/welcome/password")
    chosen = await victim.submit("/welcome/password", {"password": "victims own password 42"})
    assert chosen.headers["location"] == "/dashboard"
    await attacker.get("/login")
    denied = await attacker.submit(
        "/login", {"email": "victim@example.com", "password": "attackers password 123"}
    )
    assert denied.status_code == 422
    fresh = web.other_browser()
    await fresh.get("/login")
    ok = await fresh.submit("/login", {"email": "victim@example.com", "password": "victims own password 42"})
    assert ok.status_code == 303


async def test_the_owner_registering_after_a_stranger_wins(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    stranger = web
    await register(stranger, "owner@example.com", "strangers password 99")
    stranger_link, _ = await confirmation(mailbox, "owner@example.com")
    owner = web.other_browser()
    await register(owner, "owner@example.com", "owners password 2026")
    _, owner_code = await confirmation(mailbox, "owner@example.com", count=2)
    assert (await owner.submit("/register/confirm-code", {"code": owner_code})).status_code == 303
    await stranger.get(stranger_link)
    assert (await stranger.submit("/confirm-email")).status_code == 410
    assert await users(db) == 1


async def test_password_policy_reasons_are_shown(web: WebClient) -> None:
    short = await register(web, "new@example.com", "short", expect=422)
    assert short.status_code == 422
    assert short.text.count("Use at least 12 characters (this has 5).") == 1, "each reason is said once"
    feedback = short.text.split('id="password-feedback"')[1].split("</div>")[0]
    assert "Use at least 12 characters" in feedback, "inside the block the live check replaces"
    common = await register(web, "new@example.com", "passwordpassword", expect=422)
    assert common.status_code == 422
    assert 'aria-invalid="true"' in common.text
    same_as_address = await register(web, "averylongname@example.com", "averylongname", expect=422)
    assert same_as_address.status_code == 422


async def test_password_feedback_as_you_type_is_a_fragment(web: WebClient) -> None:
    await web.get("/register")
    response = await web.submit(
        "/register/password-check", {"password": "short", "email": "a@example.com"}, htmx=True
    )
    assert response.status_code == 200
    assert response.text.startswith('<div id="password-feedback"')
    assert "Use at least 12 characters" in response.text
    good = await web.submit(
        "/register/password-check",
        {"password": "correct horse battery staple", "email": "a@example.com"},
        htmx=True,
    )
    assert "Looks good." in good.text


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Bob@Example.COM", "bob@example.com"),
        ("ｂｏｂ@example.com", "bob@example.com"),
        ("bob@exämple.com", "bob@xn--exmple-cua.com"),
    ],
)
async def test_addresses_are_unique_in_their_canonical_form(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, first: str, second: str
) -> None:
    await accounts.create(first)
    await register(web, second)
    owner_mail = await mailbox.wait_for("@")
    assert [m.subject for m in owner_mail] == [
        "Someone tried to create a Gatehouse account with your address"
    ]
    assert await users(db) == 1


async def test_the_sixth_mail_to_one_address_in_an_hour_is_not_sent(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await register(web, "new@example.com")
    await confirmation(mailbox, "new@example.com")
    for _ in range(6):
        response = await web.submit("/register/resend")
        assert response.status_code == 303
    await mailbox.wait_for("new@example.com", count=5)
    count = await db.scalar(select(func.count()).select_from(MailboxMessage))
    assert count == 5


async def test_an_address_with_a_line_break_is_refused_and_nothing_is_mailed(
    web: WebClient, db: AsyncSession
) -> None:
    response = await register(web, "victim@example.com\r\nBcc: attacker@evil.example", expect=422)
    assert 'aria-invalid="true"' in response.text
    assert await users(db) == 0
    assert await db.scalar(select(func.count()).select_from(MailboxMessage)) == 0
