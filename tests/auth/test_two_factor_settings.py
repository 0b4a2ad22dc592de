"""Turning two-step verification on and off, backup codes, the security page [24][50]-[53]."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta

import pyotp
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, BackupCode, TotpCredential, TrustedBrowser
from app.auth.models import AuthSession, User
from tests.auth.test_sessions import cost_of
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

CODE_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")
SECRET = re.compile(r'<p class="secret" translate="no"><code>([A-Z2-7 ]+)</code></p>')
SHOWN_CODE = re.compile(r"<li><code>([0-9A-Z-]{19})</code></li>")


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def enrol(web: WebClient, clock: FrozenClock) -> tuple[str, list[str]]:
    """Set up the app through the pages, as a person would; the secret and the backup codes."""
    await web.get("/settings/two-factor")
    started = await web.submit("/settings/two-factor/setup")
    assert started.headers["location"] == "/settings/two-factor/setup"
    page = await web.get("/settings/two-factor/setup")
    match = SECRET.search(page.text)
    assert match is not None, page.text[:800]
    secret = match.group(1).replace(" ", "")
    code = pyotp.TOTP(secret).at(clock.now())
    shown = await web.submit("/settings/two-factor/setup/confirm", {"code": code})
    assert shown.status_code == 200, shown.text[:500]
    return secret, SHOWN_CODE.findall(shown.text)


async def sign_in_with(web: WebClient, code: str) -> int:
    await web.get("/login")
    first = await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert first.headers["location"] == "/login/two-factor"
    await web.get("/login/two-factor")
    return (await web.submit("/login/two-factor", {"code": code})).status_code


@pytest.fixture
async def ada(accounts: Accounts, web: WebClient) -> User:
    user = await accounts.create()
    await accounts.login(web)
    return user


# --- enrolment [50]


async def test_the_setup_page_shows_the_secret_once_and_keeps_it_out_of_caches(
    ada: User, web: WebClient, db: AsyncSession
) -> None:
    await web.get("/settings/two-factor")
    await web.submit("/settings/two-factor/setup")
    page = await web.get("/settings/two-factor/setup")
    assert page.headers["cache-control"] == "no-store"
    assert 'hx-history="false"' in page.text
    qr = page.text[page.text.index('<figure class="qr"') :]
    assert qr.split("</figure>")[0].count("<svg") == 1, "an inline QR code, no image request"
    match = SECRET.search(page.text)
    assert match is not None
    secret = match.group(1).replace(" ", "")
    assert len(secret) == 32, "160 bits"
    stored = await db.scalar(select(TotpCredential.secret_sealed))
    assert stored is not None
    assert secret not in stored, "sealed at rest"
    assert "issuer <strong>Gatehouse</strong>" in page.text


async def test_a_wrong_first_code_leaves_it_off(ada: User, web: WebClient, db: AsyncSession) -> None:
    await web.get("/settings/two-factor")
    await web.submit("/settings/two-factor/setup")
    await web.get("/settings/two-factor/setup")
    refused = await web.submit("/settings/two-factor/setup/confirm", {"code": "000000"})
    assert refused.status_code == 422
    assert SECRET.search(refused.text), "the same secret is shown again"
    assert await db.scalar(select(TotpCredential.confirmed_at)) is None
    web2 = web.other_browser()
    await web2.get("/login")
    response = await web2.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert response.headers["location"] == "/dashboard", "an unconfirmed secret asks for nothing"


async def test_turning_it_on_shows_ten_backup_codes_signs_others_out_and_mails(
    ada: User, accounts: Accounts, web: WebClient, clock: FrozenClock, mailbox: Mailbox, db: AsyncSession
) -> None:
    laptop = web.other_browser()
    await accounts.login(laptop)
    _, codes = await enrol(web, clock)
    assert len(codes) == 10
    assert all(CODE_SHAPE.match(code) for code in codes)
    assert len({code[:4] for code in codes}) == 10
    assert not await signed_in(laptop), "other sessions end when a factor changes [24]"
    assert await signed_in(web)
    (notice,) = await mailbox.wait_for("ada@example.com", subject="Your Gatehouse sign-in protection changed")
    assert "turned on" in notice.text_body
    stored = (await db.scalars(select(BackupCode.digest))).all()
    assert all(code.encode() not in digest for code in codes for digest in stored)


async def test_the_backup_codes_page_is_not_cached(ada: User, web: WebClient, clock: FrozenClock) -> None:
    await enrol(web, clock)
    page = await web.submit("/settings/two-factor/backup-codes")
    assert page.headers["cache-control"] == "no-store"
    assert 'hx-history="false"' in page.text
    assert 'download="gatehouse-backup-codes.txt"' in page.text


# --- backup codes [51][52]


async def test_each_backup_code_works_once_typed_any_way(
    ada: User, web: WebClient, clock: FrozenClock, mailbox: Mailbox
) -> None:
    _, codes = await enrol(web, clock)
    await web.submit("/logout")
    typed = codes[0].lower().replace("-", " ")
    assert await sign_in_with(web, typed) == 303
    message = (await mailbox.wait_for("ada@example.com", subject="A Gatehouse backup code was used"))[0]
    assert "9 codes are left" in message.text_body
    await web.submit("/logout")
    assert await sign_in_with(web, codes[0]) == 422
    assert await sign_in_with(web, codes[1]) == 303


async def test_new_backup_codes_replace_the_old_set(ada: User, web: WebClient, clock: FrozenClock) -> None:
    _, old = await enrol(web, clock)
    page = await web.submit("/settings/two-factor/backup-codes")
    new = SHOWN_CODE.findall(page.text)
    assert len(new) == 10
    assert not set(new) & set(old)
    await web.submit("/logout")
    assert await sign_in_with(web, old[0]) == 422
    assert await sign_in_with(web, new[0]) == 303


async def test_one_backup_code_used_twice_at_once_works_once(
    ada: User, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    _, codes = await enrol(web, clock)
    await web.submit("/logout")
    one, two = web.other_browser(), web.other_browser()
    for browser in (one, two):
        await browser.get("/login")
        await browser.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
        await browser.get("/login/two-factor")
    results = await asyncio.gather(
        one.submit("/login/two-factor", {"code": codes[3]}),
        two.submit("/login/two-factor", {"code": codes[3]}),
    )
    assert sorted(r.status_code for r in results) == [303, 422]


async def test_a_wrong_backup_code_costs_no_password_hash(
    ada: User, web: WebClient, clock: FrozenClock, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, codes = await enrol(web, clock)
    await web.submit("/logout")
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    await web.get("/login/two-factor")
    hasher = app.state.security.hasher
    calls = 0
    original = hasher.verify

    async def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(hasher, "verify", counting)
    wrong = codes[0][:5] + ("0000" if codes[0][5:9] != "0000" else "1111") + codes[0][9:]
    assert (await web.submit("/login/two-factor", {"code": wrong})).status_code == 422
    assert calls <= 1, "one keyed digest compared, never ten slow hashes [52]"


async def test_few_backup_codes_left_shows_a_banner(
    ada: User, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await enrol(web, clock)
    ids = (await db.scalars(select(BackupCode.id).limit(8))).all()
    for row in await db.scalars(select(BackupCode).where(BackupCode.id.in_(ids))):
        row.used_at = clock.now()
    await db.commit()
    page = await web.get("/settings/security")
    assert "Only 2 backup codes left" in page.text


# --- turning it off [53]


async def test_turning_it_off_needs_a_code_even_inside_the_sudo_window(
    ada: User, accounts: Accounts, web: WebClient, clock: FrozenClock, mailbox: Mailbox, db: AsyncSession
) -> None:
    secret, _ = await enrol(web, clock)
    phone = web.other_browser()
    await phone.get("/login")
    await phone.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    await phone.get("/login/two-factor")
    clock.advance(timedelta(seconds=30))
    assert (
        await phone.submit("/login/two-factor", {"code": pyotp.TOTP(secret).at(clock.now())})
    ).status_code == 303
    await web.get("/settings/two-factor")
    refused = await web.submit("/settings/two-factor/disable", {"code": ""})
    assert refused.status_code == 422
    assert await db.scalar(select(func.count()).select_from(TotpCredential)) == 1
    clock.advance(timedelta(seconds=30))
    done = await web.submit("/settings/two-factor/disable", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert done.status_code == 303
    assert await db.scalar(select(func.count()).select_from(TotpCredential)) == 0
    assert await db.scalar(select(func.count()).select_from(BackupCode)) == 0
    assert not await signed_in(phone), "turning it off signs the other browsers out [24]"
    notices = await mailbox.wait_for(
        "ada@example.com", count=2, subject="Your Gatehouse sign-in protection changed"
    )
    # Two notices, one per change; the worker may deliver them in either order.
    assert sorted("turned off" in notice.text_body for notice in notices) == [False, True]
    await web.submit("/logout")
    await web.get("/login")
    again = await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert again.headers["location"] == "/dashboard"


async def test_a_remembered_session_cannot_turn_it_off_without_a_code(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    user = await accounts.create()
    secret = await accounts.enrol_totp(user)
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "remember": "on"})
    await web.get("/login/two-factor")
    await web.submit("/login/two-factor", {"code": accounts.totp_code(secret), "trust": "on"})
    web.cookies.delete("session")
    clock.advance(timedelta(minutes=1))
    assert await signed_in(web), "remember-me plus a trusted browser restores the session"
    assert (
        await db.scalar(select(AuthSession.kind).order_by(AuthSession.created_at.desc()).limit(1))
        == "remembered"
    )
    await web.get("/sudo?next=/settings/two-factor")
    await web.submit(
        "/sudo",
        {"password": DEFAULT_PASSWORD, "code": accounts.totp_code(secret, 1), "next": "/settings/two-factor"},
    )
    refused = await web.submit("/settings/two-factor/disable", {"code": "999999"})
    assert refused.status_code == 422
    assert await db.scalar(select(func.count()).select_from(TotpCredential)) == 1


# --- the security page


async def test_the_security_page_shows_each_protection_with_its_action(
    ada: User, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    page = await web.get("/settings/security")
    assert page.status_code == 200
    for text in (
        "Password",
        "Two-step verification",
        "Passkeys",
        "Backup codes",
        "Sessions",
        "Trusted browsers",
    ):
        assert text in page.text
    assert "Off" in page.text
    await enrol(web, clock)
    page = await web.get("/settings/security")
    assert "10 of 10 left" in page.text


async def test_trusted_browsers_are_listed_and_revocable(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    secret = await accounts.enrol_totp(user)
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    await web.get("/login/two-factor")
    await web.submit("/login/two-factor", {"code": accounts.totp_code(secret), "trust": "on"})
    page = await web.get("/settings/security")
    browser_id = await db.scalar(select(TrustedBrowser.id))
    assert f"/settings/security/trusted/{browser_id}/revoke" in page.text
    await web.submit(f"/settings/security/trusted/{browser_id}/revoke")
    assert await db.scalar(select(func.count()).select_from(TrustedBrowser)) == 0
    assert await db.scalar(select(func.count()).where(AuditEvent.action == "auth.mfa.browser_untrusted")) == 1


async def test_the_security_pages_cost_a_fixed_number_of_statements(
    accounts: Accounts, web: WebClient, app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    """No N+1: the number of statements does not grow with trusted browsers or sessions."""
    user = await accounts.create()
    secret = await accounts.enrol_totp(user)
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    await web.get("/login/two-factor")
    await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})

    async def add_browsers(n: int) -> None:
        for _ in range(n):
            db.add(
                TrustedBrowser(
                    token_hash=os.urandom(32),
                    user_id=user.id,
                    device_label="Firefox on Linux",
                    expires_at=clock.now() + timedelta(days=1),
                )
            )
        await db.commit()

    await add_browsers(1)
    costs = {}
    await web.submit("/settings/two-factor/backup-codes")
    for path in ("/settings/security", "/settings/two-factor", "/sudo"):
        status, cost = await cost_of(app, web, path)
        assert status == 200
        costs[path] = len(cost.statements)
        assert cost.most_at_once == 1
    await add_browsers(5)
    for path, before in costs.items():
        _, cost = await cost_of(app, web, path)
        assert len(cost.statements) == before, path
    assert costs["/settings/security"] <= 6


async def test_the_second_step_and_the_setup_page_cost_a_few_statements(
    accounts: Accounts, web: WebClient, app: Litestar, clock: FrozenClock
) -> None:
    user = await accounts.create()
    await accounts.enrol_totp(user)
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    status, cost = await cost_of(app, web, "/login/two-factor")
    assert status == 200
    assert len(cost.statements) <= 2, cost.statements
    assert cost.most_at_once == 1

    other = web.other_browser()
    await accounts.create("bob@example.com")
    await accounts.login(other, "bob@example.com")
    await other.submit("/settings/two-factor/setup")
    status, cost = await cost_of(app, other, "/settings/two-factor/setup")
    assert status == 200
    assert len(cost.statements) <= 2, cost.statements
