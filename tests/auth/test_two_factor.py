"""The second sign-in step [15][16][47]-[49]: the pre-session, TOTP, lockouts, trusted browsers.

Accounts get their authenticator app straight in the database (`accounts.enrol_totp`); the
enrolment pages have their own tests (test_two_factor_settings.py). Codes are computed from the
secret at the app's frozen clock, so a test can ask for the code of any time step.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.backup_codes import generate_codes
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, PendingLogin, TrustedBrowser, WebAuthnCredential
from app.auth.models import AuthSession, User
from tests.auth.test_magic_link import ask as ask_magic
from tests.auth.test_magic_link import sign_in_mail
from tests.auth.test_password_reset import LINK as RESET_LINK
from tests.auth.test_password_reset import ask as ask_reset
from tests.auth.test_password_reset import reset_link
from tests.auth.test_password_reset import use as use_reset
from tests.auth.test_registration import confirmation, register
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient
from tests.web.test_route_table import concrete

STEP = "/login/two-factor"


async def count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def first_factor(web: WebClient, email: str = "ada@example.com", **fields: str) -> None:
    """Type the password; for an enrolled account this must end at the second step."""
    await web.get("/login")
    response = await web.submit("/login", {"email": email, "password": DEFAULT_PASSWORD, **fields})
    assert response.status_code == 303, response.text[:300]
    assert response.headers["location"] == STEP


async def answer(web: WebClient, code: str, **fields: str) -> int:
    await web.get(STEP)
    return (await web.submit(STEP, {"code": code, **fields})).status_code


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


def signed_in_pages(app: Litestar) -> list[str]:
    """Every GET page of the route table that needs a signed-in user (so new pages are covered too)."""
    pages = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            guards = {getattr(guard, "__name__", "") for guard in handler.resolve_guards()}
            if "GET" in handler.http_methods and guards & {"requires_user", "requires_sudo"}:
                pages.add(concrete(route.path))
    return sorted(pages)


@pytest.fixture
async def enrolled(accounts: Accounts) -> tuple[User, str]:
    user = await accounts.create()
    return user, await accounts.enrol_totp(user)


# --- the pre-session [16]


async def test_the_password_alone_starts_no_session_for_an_enrolled_account(
    enrolled: tuple[User, str], web: WebClient, db: AsyncSession
) -> None:
    await first_factor(web)
    assert await count(db, AuthSession) == 0
    assert await count(db, PendingLogin) == 1
    assert "session" not in web.cookies
    assert (await web.get(STEP)).status_code == 200


async def test_the_pre_session_opens_no_page_but_the_second_step(
    enrolled: tuple[User, str], web: WebClient, app: Litestar
) -> None:
    await first_factor(web)
    pages = signed_in_pages(app)
    assert len(pages) >= 8
    for path in pages:
        response = await web.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == STEP, path
    htmx = await web.get("/settings/profile", htmx=True, follow_redirects=False)
    assert htmx.headers.get("hx-redirect") == STEP


async def test_the_pre_session_cookie_is_not_a_session(enrolled: tuple[User, str], web: WebClient) -> None:
    await first_factor(web)
    stolen = web.cookies["mfa"]
    other = web.other_browser()
    other.cookies.set("session", stolen)
    assert not await signed_in(other)


async def test_a_right_code_starts_the_session_once(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret)) == 303
    assert await signed_in(web)
    assert await count(db, PendingLogin) == 0, "the pre-session is spent"
    assert "mfa" not in web.cookies


async def test_the_pre_session_expires_after_ten_minutes(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    _, secret = enrolled
    await first_factor(web)
    await web.get(STEP)
    clock.advance(timedelta(minutes=10, seconds=1))
    response = await web.submit(STEP, {"code": accounts.totp_code(secret)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert not await signed_in(web)


async def test_a_sign_in_goes_where_it_was_asked_to_after_the_second_step(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient
) -> None:
    _, secret = enrolled
    await first_factor(web, next="/settings/sessions")
    await web.get(STEP)
    response = await web.submit(STEP, {"code": accounts.totp_code(secret)})
    assert response.headers["location"] == "/settings/sessions"


# --- TOTP [47][48]


@pytest.mark.parametrize(("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
async def test_codes_one_step_either_side_are_accepted_two_are_not(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, steps: int, accepted: bool
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert (await answer(web, accounts.totp_code(secret, steps)) == 303) is accepted


async def test_the_same_code_does_not_work_twice(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient
) -> None:
    _, secret = enrolled
    code = accounts.totp_code(secret)
    await first_factor(web)
    assert await answer(web, code) == 303
    await web.submit("/logout")
    await first_factor(web)
    assert await answer(web, code) == 422
    assert not await signed_in(web)


async def test_an_older_code_does_not_work_after_a_newer_one(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret, 1)) == 303
    await web.submit("/logout")
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret, 0)) == 422


async def test_one_code_sent_from_two_sign_ins_at_once_succeeds_once(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    _, secret = enrolled
    other = web.other_browser()
    await first_factor(web)
    await first_factor(other)
    await web.get(STEP)
    await other.get(STEP)
    code = accounts.totp_code(secret)
    results = await asyncio.gather(web.submit(STEP, {"code": code}), other.submit(STEP, {"code": code}))
    assert sorted(r.status_code for r in results) == [303, 422]
    assert await count(db, AuthSession) == 1


# --- limits [49]


async def test_five_wrong_codes_send_the_browser_back_to_the_password(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient
) -> None:
    _, secret = enrolled
    await first_factor(web)
    await web.get(STEP)
    for tries_left in (4, 3, 2, 1):
        response = await web.submit(STEP, {"code": "000000"})
        assert response.status_code == 422
        assert f"{tries_left} tr" in response.text
    response = await web.submit(STEP, {"code": "000000"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    await answer(web, accounts.totp_code(secret))
    assert not await signed_in(web), "the pre-session is gone"


async def test_ten_wrong_codes_across_attempts_lock_even_the_right_code_out_and_mail_the_owner(
    enrolled: tuple[User, str],
    accounts: Accounts,
    web: WebClient,
    clock: FrozenClock,
    mailbox: Mailbox,
    db: AsyncSession,
) -> None:
    _, secret = enrolled
    for _attempt in range(2):
        await first_factor(web)
        await web.get(STEP)
        for _ in range(5):
            await web.submit(STEP, {"code": "000000"})
    await first_factor(web)
    await web.get(STEP)
    response = await web.submit(STEP, {"code": accounts.totp_code(secret)})
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert not await signed_in(web)
    await mailbox.wait_for("ada@example.com", subject="Sign-in to Gatehouse paused after wrong codes")
    assert await db.scalar(select(func.count()).where(AuditEvent.action == "auth.mfa.locked")) == 1
    clock.advance(timedelta(minutes=15, seconds=1))
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret)) == 303


async def test_a_right_code_resets_the_account_count(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user, secret = enrolled
    await first_factor(web)
    await web.get(STEP)
    for _ in range(4):
        await web.submit(STEP, {"code": "000000"})
    assert await web.submit(STEP, {"code": accounts.totp_code(secret)})
    await db.refresh(user)
    assert user.mfa_failures == 0


# --- trusted browsers [27]


async def test_a_trusted_browser_skips_the_second_step_next_time(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret), trust="on") == 303
    assert await count(db, TrustedBrowser) == 1
    await web.submit("/logout")
    assert "trusted" in web.cookies, "signing out keeps the trust (it is per browser, not per session)"
    await web.get("/login")
    response = await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert response.headers["location"] == "/dashboard"
    assert await signed_in(web)


async def test_one_users_trusted_browser_does_not_skip_the_step_for_another(
    accounts: Accounts, web: WebClient
) -> None:
    ada = await accounts.create()
    ada_secret = await accounts.enrol_totp(ada)
    await accounts.enrol_totp(await accounts.create("bob@example.com"))
    await first_factor(web)
    assert await answer(web, accounts.totp_code(ada_secret), trust="on") == 303
    await web.submit("/logout")
    await first_factor(web, "bob@example.com")


async def test_an_expired_trust_asks_again(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret), trust="on") == 303
    await web.submit("/logout")
    clock.advance(timedelta(days=30, seconds=1))
    await first_factor(web)


async def test_a_password_reset_wipes_trusted_browsers(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession, mailbox: Mailbox
) -> None:
    _, secret = enrolled
    await first_factor(web)
    assert await answer(web, accounts.totp_code(secret), trust="on") == 303
    await web.submit("/logout")
    other = web.other_browser()
    await ask_reset(other, "ada@example.com")
    response = await use_reset(
        other, await reset_link(mailbox, "ada@example.com"), "a brand new long passphrase"
    )
    assert response.status_code == 303, response.text[:300]
    assert await count(db, TrustedBrowser) == 0
    await web.get("/login")
    response = await web.submit(
        "/login", {"email": "ada@example.com", "password": "a brand new long passphrase"}
    )
    assert response.headers["location"] == STEP


async def test_signing_out_everywhere_wipes_trusted_browsers(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    _, secret = enrolled
    other = web.other_browser()
    await first_factor(other)
    assert await answer(other, accounts.totp_code(secret), trust="on") == 303
    await first_factor(web)
    await web.get(STEP)
    await db.execute(update(User).values(mfa_failures=0))
    await db.commit()
    assert await answer(web, accounts.totp_code(secret, 1)) == 303
    clock.advance(timedelta(seconds=60))
    await web.get("/sudo?next=/settings/sessions")
    response = await web.submit(
        "/sudo",
        {"password": DEFAULT_PASSWORD, "code": accounts.totp_code(secret), "next": "/settings/sessions"},
    )
    assert response.status_code == 303, response.text[:300]
    await web.get("/settings/sessions")
    await web.submit("/settings/sessions/revoke-others")
    assert await count(db, TrustedBrowser) == 0


# --- every way in asks [15]


async def test_remember_me_restores_only_up_to_the_second_step(
    enrolled: tuple[User, str], accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    _, secret = enrolled
    await first_factor(web, remember="on")
    assert await answer(web, accounts.totp_code(secret)) == 303
    clock.advance(timedelta(hours=13))  # the session is long dead; the remember-me cookie is not
    response = await web.get("/settings/sessions", follow_redirects=False)
    assert response.headers["location"] == STEP
    assert await count(db, AuthSession) == 0, "the dead session is gone and no new one starts yet"
    assert "mfa" in web.cookies
    for _ in range(2):  # further requests do not restore again, nor pile up pre-sessions
        await web.get("/settings/profile", follow_redirects=False)
    assert await count(db, PendingLogin) == 1
    await web.get(STEP)
    done = await web.submit(STEP, {"code": accounts.totp_code(secret)})
    assert done.headers["location"] == "/settings/sessions", "back to the page that was asked for"
    kinds = (await db.scalars(select(AuthSession.kind))).all()
    assert "remembered" in kinds
    assert await signed_in(web)


@pytest.mark.needs_features("magic_link")
async def test_every_way_in_asks_an_enrolled_account_for_the_second_factor(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    """Password, mailed link, mailed code, address confirmation: each ends at the second step,
    never at a session [15]. (Remember-me is the test above; a password reset signs nobody in.)"""
    user = await accounts.create()
    await accounts.enrol_totp(user)

    await first_factor(web.other_browser())

    by_link = web.other_browser()
    await ask_magic(by_link)
    link, code = await sign_in_mail(mailbox)
    await by_link.get(link)
    response = await by_link.submit("/login/email/link")
    assert response.headers["location"] == STEP

    by_code = web.other_browser()
    await ask_magic(by_code)
    _, code = await sign_in_mail(mailbox, count=2)
    response = await by_code.submit("/login/email/code", {"code": code})
    assert response.headers["location"] == STEP

    # An address confirmation signs the new account in; with a second factor (set up on the
    # unconfirmed account straight in the database) it too stops at the second step.
    newcomer = web.other_browser()
    await register(newcomer, "newcomer@example.com")
    fresh = await db.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert fresh is not None
    await accounts.enrol_totp(fresh)
    _, confirm_code = await confirmation(mailbox, "newcomer@example.com")
    response = await newcomer.submit("/register/confirm-code", {"code": confirm_code})
    assert response.headers["location"] == STEP

    reset = web.other_browser()
    await ask_reset(reset, "ada@example.com")
    (mail,) = await mailbox.wait_for("ada@example.com", subject="Reset your Gatehouse password")
    match = RESET_LINK.search(mail.text_body)
    assert match is not None
    answered = await use_reset(reset, match.group(1), "a brand new long passphrase")
    assert answered.headers["location"] == "/login"
    assert not await signed_in(reset)

    assert await count(db, AuthSession) == 0


async def test_a_passkey_account_can_finish_the_second_step_with_a_backup_code(
    accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    """Lost the passkey (or JavaScript is off): a backup code still finishes the sign-in."""
    user = await accounts.create()
    db.add(WebAuthnCredential(user_id=user.id, credential_id=b"\x07" * 16, public_key=b"key", name="Laptop"))
    codes = await generate_codes(db, app.state.security, user.id)
    await db.commit()
    await first_factor(web)
    page = await web.get(STEP)
    assert 'name="code"' in page.text
    assert (await web.submit(STEP, {"code": codes[0]})).status_code == 303
    assert await signed_in(web)
