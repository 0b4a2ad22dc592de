"""Signing in by email: no enumeration, GET never spends, one session per link, bound to the asking browser."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport as AppTransport
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.auth.models import AuthSession, EmailToken
from app.settings import Settings
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

LINK = re.compile(r"(http://testserver\.local/login/email/link\?token=[A-Za-z0-9_\-]+)")
CODE = re.compile(r"\b(\d{3}) (\d{3})\b")
SUBJECT = "Sign in to Gatehouse"


async def ask(web: WebClient, email: str = "ada@example.com", **kwargs: object) -> httpx.Response:
    """Ask for a sign-in link through the form, as a browser would."""
    await web.get("/login/email")
    response = await web.submit("/login/email", {"email": email}, **kwargs)
    assert response.status_code == 303, response.text[:500]
    return response


async def sign_in_mail(mailbox: Mailbox, to: str = "ada@example.com", count: int = 1) -> tuple[str, str]:
    """The link (as a path) and the code of the newest sign-in mail to `to`."""
    message = (await mailbox.wait_for(to, count=count))[-1]
    assert message.subject == SUBJECT
    link = LINK.search(message.text_body)
    code = CODE.search(message.text_body)
    assert link is not None
    assert code is not None
    return link.group(1).removeprefix(BASE_URL), code.group(1) + code.group(2)


async def sessions(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(AuthSession)) or 0)


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def submit_at_once(path: str, *browsers: WebClient) -> list[httpx.Response]:
    """POST `path` from every browser at the same moment.

    The test client runs the app on its own event-loop thread and blocks its caller until the
    response is complete, so `asyncio.gather` of two `submit`s would serve them one after the
    other. Sent from threads of their own, the requests really overlap inside the app.
    """

    def send(browser: WebClient) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in browser.jar.items())
        headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", "cookie": cookie}
        data = {"_csrf_token": browser.csrf_token or ""}
        request = browser.client.build_request("POST", path, data=data, headers=headers)
        response = AppTransport(browser.client).handle_request(request)
        response.read()
        return response

    return list(await asyncio.gather(*(asyncio.to_thread(send, browser) for browser in browsers)))


def shape(response: httpx.Response) -> tuple[int, str | None, list[str]]:
    cookies = sorted(value.split("=", 1)[0] for value in response.headers.get_list("set-cookie"))
    return response.status_code, response.headers.get("location"), cookies


async def test_the_sign_in_page_offers_a_link_by_email(web: WebClient) -> None:
    page = await web.get("/login")
    assert 'href="/login/email"' in page.text
    assert "Email me a sign-in link instead" in page.text


async def test_asking_for_a_known_and_an_unknown_address_looks_the_same(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    ada = await accounts.create("ada@example.com")
    unknown = await ask(web.other_browser(), "nobody@example.com")
    known = await ask(web, "ada@example.com")
    assert shape(known) == shape(unknown) == (303, "/login/email/check-inbox", ["magic"])
    await sign_in_mail(mailbox, "ada@example.com")
    assert [m.to_addr for m in await mailbox.messages()] == ["ada@example.com"]
    requested = (
        await db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.magic_link.requested"))
    ).all()
    assert [event.actor_id for event in requested] == [ada.id]


async def test_the_mail_carries_the_link_the_code_and_what_to_do_if_you_did_not_ask(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web)
    link, code = await sign_in_mail(mailbox)
    [message] = await mailbox.messages("ada@example.com")
    for body in (message.text_body, message.html_body):
        assert f"{BASE_URL}{link}" in body
        assert f"{code[:3]} {code[3:]}" in body
        assert "10 minutes" in body
        assert "nobody can sign in without this mail" in body


@pytest.mark.parametrize("kind", ["unconfirmed", "disabled"])
async def test_an_account_that_cannot_sign_in_gets_no_mail(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, kind: str
) -> None:
    await accounts.create("new@example.com", confirmed=kind != "unconfirmed", active=kind != "disabled")
    await accounts.create("ada@example.com")
    refused = await ask(web, "new@example.com")
    await ask(web.other_browser(), "ada@example.com")  # a known mail to wait for
    await sign_in_mail(mailbox, "ada@example.com")
    assert await mailbox.messages("new@example.com") == []
    assert shape(refused) == (303, "/login/email/check-inbox", ["magic"])
    assert await db.scalar(select(func.count()).select_from(EmailToken)) == 1


async def test_links_in_the_mail_use_the_configured_base_url_whatever_the_headers_say(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    poisoned = {"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}
    await ask(web, headers=poisoned)
    [message] = await mailbox.wait_for("ada@example.com")
    link = LINK.search(message.text_body)
    assert link is not None
    assert link.group(1).startswith("http://testserver.local/")
    assert "evil.example" not in message.text_body
    assert "evil.example" not in message.html_body


async def test_a_malformed_address_is_explained_next_to_the_field(web: WebClient, db: AsyncSession) -> None:
    await web.get("/login/email")
    response = await web.submit("/login/email", {"email": "not-an-address"}, htmx=True)
    assert response.status_code == 422
    assert 'id="magic-request-form"' in response.text
    assert 'aria-invalid="true" aria-describedby="magic-email-error"' in response.text
    assert "<html" not in response.text
    assert "magic" not in response.cookies


async def test_opening_the_link_twice_does_not_use_it(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    link, _ = await sign_in_mail(mailbox)
    landing = await web.get(link, follow_redirects=False)
    assert landing.status_code == 303
    assert landing.headers["location"] == "/login/email/link"
    assert landing.headers["referrer-policy"] == "no-referrer"
    for _ in range(2):  # mail scanners fetch links; that must not use them up
        page = await web.get("/login/email/link")
        assert page.status_code == 200
        assert "Sign in as ada@example.com" in page.text
        assert 'action="/login/email/link"' in page.text
        assert "token=" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
    token = (await db.scalars(select(EmailToken))).one()
    assert token.used_at is None
    assert await sessions(db) == 0


async def test_pressing_the_button_signs_in_and_spends_the_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    link, _ = await sign_in_mail(mailbox)
    await web.get(link)
    response = await web.submit("/login/email/link")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert await signed_in(web)
    assert (await db.scalars(select(AuthSession.kind))).one() == "magic_link"
    await web.get(link)  # the same link again, in the same browser
    again = await web.submit("/login/email/link")
    assert again.status_code == 410
    assert "expired or was already used" in again.text
    assert await sessions(db) == 1


async def test_two_simultaneous_clicks_start_exactly_one_session(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    link, _ = await sign_in_mail(mailbox)
    await web.get(link)
    twin = web.other_browser()  # the same cookies: one browser clicking twice
    twin.jar = httpx.Cookies(web.jar)
    twin.csrf_token = web.csrf_token
    first, second = await submit_at_once("/login/email/link", web, twin)
    assert sorted([first.status_code, second.status_code]) == [303, 410]
    assert await sessions(db) == 1


async def test_the_link_expires_after_ten_minutes(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create()
    await ask(web)
    link, _ = await sign_in_mail(mailbox)
    await web.get(link)
    clock.advance(timedelta(minutes=9, seconds=59))
    assert "Sign in as ada@example.com" in (await web.get("/login/email/link")).text
    clock.advance(timedelta(seconds=2))  # 10 min + 1 s
    page = await web.get("/login/email/link")
    assert "expired or was already used" in page.text
    assert 'href="/login/email"' in page.text
    assert 'action="/login/email/link"' not in page.text
    assert (await web.submit("/login/email/link")).status_code == 410
    assert await sessions(db) == 0


async def test_a_link_opened_in_another_browser_does_not_sign_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    link, _ = await sign_in_mail(mailbox)
    elsewhere = web.other_browser()
    page = await elsewhere.get(link)
    assert page.status_code == 200
    assert "Open this link on the device where you asked for it" in page.text
    assert "type the code shown in the email" in page.text
    assert 'action="/login/email/link"' not in page.text
    assert "ada@example.com" not in page.text
    refused = await elsewhere.submit("/login/email/link")
    assert refused.status_code == 403
    assert not await signed_in(elsewhere)
    assert await sessions(db) == 0
    # The person who asked can still use it.
    await web.get(link)
    assert (await web.submit("/login/email/link")).status_code == 303


async def test_a_newer_request_retires_the_older_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web)
    old_link, _ = await sign_in_mail(mailbox)
    await ask(web)
    new_link, _ = await sign_in_mail(mailbox, count=2)
    assert new_link != old_link
    await web.get(old_link)
    assert (await web.submit("/login/email/link")).status_code == 410
    await web.get(new_link)
    assert (await web.submit("/login/email/link")).status_code == 303


@pytest.mark.parametrize("way", ["link", "code"])
async def test_an_account_with_a_second_factor_is_sent_to_it_instead_of_signed_in(
    accounts: Accounts,
    web: WebClient,
    mailbox: Mailbox,
    db: AsyncSession,
    way: str,
) -> None:
    await accounts.enrol_totp(await accounts.create())
    await ask(web)
    link, code = await sign_in_mail(mailbox)
    if way == "link":
        await web.get(link)
        response = await web.submit("/login/email/link")
    else:
        response = await web.submit("/login/email/code", {"code": code})
    assert response.status_code == 303
    assert response.headers["location"] == "/login/two-factor"
    assert await sessions(db) == 0


async def test_the_code_signs_in_the_browser_that_asked(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    page = await web.get("/login/email/check-inbox")
    assert "If an account uses <strong>ada@example.com</strong>" in page.text
    assert 'action="/login/email/code"' in page.text
    _, code = await sign_in_mail(mailbox)
    response = await web.submit("/login/email/code", {"code": f"{code[:3]} {code[3:]}"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert "magic=" in response.headers["set-cookie"]  # the "waiting for a code" cookie is cleared
    assert await signed_in(web)
    assert (await db.scalars(select(AuthSession.kind))).one() == "magic_link"


async def test_the_code_does_not_work_in_another_browser(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    await ask(web)
    _, code = await sign_in_mail(mailbox)
    elsewhere = web.other_browser()
    await elsewhere.get("/login/email/check-inbox")
    refused = await elsewhere.submit("/login/email/code", {"code": code})
    assert refused.status_code == 422
    assert "expired or was used up" in refused.text
    assert await sessions(db) == 0
    assert (await web.submit("/login/email/code", {"code": code})).status_code == 303


async def test_a_wrong_code_is_explained_in_the_form_fragment(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web)
    _, code = await sign_in_mail(mailbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = await web.submit("/login/email/code", {"code": wrong}, htmx=True)
    assert response.status_code == 422
    assert 'id="magic-code-form"' in response.text
    assert 'aria-invalid="true" aria-describedby="magic-code-error"' in response.text
    assert "That code is not right. 4 tries left." in response.text
    assert "<html" not in response.text


async def test_five_wrong_codes_kill_the_code(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create()
    await ask(web)
    _, code = await sign_in_mail(mailbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    messages = [(await web.submit("/login/email/code", {"code": wrong})).text for _ in range(5)]
    assert "4 tries left" in messages[0]
    assert "1 try left" in messages[3]
    assert "expired or was used up" in messages[4]
    clock.advance(timedelta(seconds=2))  # past the throttle's first delay: only the code is dead now
    response = await web.submit("/login/email/code", {"code": code})
    assert response.status_code == 422
    assert "expired or was used up" in response.text
    assert await sessions(db) == 0


async def test_wrong_codes_count_against_the_address_like_wrong_passwords(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create()
    await ask(web)
    _, code = await sign_in_mail(mailbox)
    for _ in range(5):
        await web.submit("/login/email/code", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
    password_browser = web.other_browser()
    await password_browser.get("/login")
    throttled = await password_browser.submit(
        "/login", {"email": "ada@example.com", "password": "correct horse battery staple"}
    )
    assert throttled.status_code == 429


async def test_codes_are_refused_while_the_address_must_wait(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.create()
    password_browser = web.other_browser()
    await password_browser.get("/login")
    for _ in range(5):
        await password_browser.submit("/login", {"email": "ada@example.com", "password": "wrong password!"})
    await ask(web)
    _, code = await sign_in_mail(mailbox)
    refused = await web.submit("/login/email/code", {"code": code})
    assert refused.status_code == 429  # like the password form, and it says how long to wait
    assert refused.headers["retry-after"] == "1"
    assert "Too many failed attempts. Try again in 1 second." in refused.text
    fragment = await web.submit("/login/email/code", {"code": code}, htmx=True)
    assert fragment.status_code == 429
    assert fragment.headers["retry-after"] == "1"
    assert fragment.headers["cache-control"] == "no-store"
    assert 'id="magic-code-form"' in fragment.text, "htmx swaps the form with its message, as for a 422"
    assert "Too many failed attempts." in fragment.text
    assert "<html" not in fragment.text
    clock.advance(timedelta(seconds=2))
    assert (await web.submit("/login/email/code", {"code": code})).status_code == 303


async def test_switched_off_every_route_answers_404_and_the_sign_in_page_does_not_offer_it(
    settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    switched_off = settings.model_copy(update={"feature_magic_link": False})
    app = create_app(switched_off, clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        login = await web.get("/login")
        assert login.status_code == 200
        assert "/login/email" not in login.text
        for path in (
            "/login/email",
            "/login/email/check-inbox",
            "/login/email/link",
            "/login/email/link?token=x",
        ):
            assert (await web.get(path, follow_redirects=False)).status_code == 404, path
        for path in ("/login/email", "/login/email/code", "/login/email/link"):
            assert (
                await web.submit(path, {"email": "ada@example.com", "code": "123456"})
            ).status_code == 404, path
