"""Security notices: each event sends exactly one message, with the facts and what to do [93]."""

from __future__ import annotations

from datetime import timedelta

from app.auth.core.clock import FrozenClock
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

FIREFOX = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0"}
IPHONE = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"
}


async def sign_in_notices(mailbox: Mailbox) -> list[str]:
    return [
        m.text_body for m in await mailbox.messages("ada@example.com") if m.subject.startswith("New sign-in")
    ]


async def test_a_sign_in_from_a_new_device_is_reported_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web, headers=FIREFOX)  # the first sign-in ever is not news
    clock.advance(timedelta(hours=1))
    await accounts.login(web.other_browser(), headers=IPHONE)
    [notice] = await mailbox.wait_for("ada@example.com")
    assert notice.subject == "New sign-in to your Gatehouse account"
    assert "Mobile Safari on iOS" in notice.text_body
    assert "testclient" in notice.text_body  # the client address as the app saw it
    assert "/forgot-password" in notice.text_body
    assert "If it was not you" in notice.text_body


async def test_signing_in_again_on_a_known_device_sends_nothing(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web, headers=FIREFOX)
    await web.submit("/logout")
    clock.advance(timedelta(days=3))
    await accounts.login(web, headers=FIREFOX)
    await accounts.login(web.other_browser(), headers=IPHONE)  # this one is news; it proves mail flows
    await mailbox.wait_for("ada@example.com")
    notices = await sign_in_notices(mailbox)
    assert len(notices) == 1
    assert "Mobile Safari" in notices[0]


async def test_a_resent_confirmation_says_the_old_link_is_dead(web: WebClient, mailbox: Mailbox) -> None:
    await web.get("/register")
    await web.submit("/register", {"email": "new@example.com", "password": "correct horse battery staple"})
    await mailbox.wait_for("new@example.com")
    await web.submit("/register/resend")
    first, second = await mailbox.wait_for("new@example.com", count=2)
    assert "Welcome to Gatehouse" in first.text_body
    assert "no longer work" in second.text_body
