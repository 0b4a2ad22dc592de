"""Sudo [28][29]: the strongest factor the account has, and an interrupted form that is not lost."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import EmailToken, WebAuthnCredential
from app.auth.models import User
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.web import BASE_URL, WebClient

NEW = "ada.new@example.org"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def change_tokens(db: AsyncSession) -> int:
    query = select(func.count()).where(EmailToken.purpose == "change_email")
    return int(await db.scalar(query) or 0)


def kept_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The action and fields of the form the continue page sends on."""
    action = re.search(r'<form method="post" action="([^"]+)" data-autosubmit>', page.text)
    assert action is not None, page.text[:500]
    return action.group(1), dict(HIDDEN.findall(page.text))


async def stale_sudo(accounts: Accounts, web: WebClient, clock: FrozenClock) -> User:
    user = await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    return user


async def test_a_form_refused_for_sudo_is_finished_after_it_without_retyping(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await stale_sudo(accounts, web, clock)
    await web.get("/settings/email")
    refused = await web.submit(
        "/settings/email", {"email": NEW}, headers={"referer": f"{BASE_URL}/settings/email"}
    )
    assert refused.headers["location"] == "/sudo?next=/settings/email"
    prompt = await web.get("/sudo?next=/settings/email")
    assert "Your changes are kept" in prompt.text
    page = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/email"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    action, fields = kept_form(page)
    assert action == "/settings/email"
    assert fields["email"] == NEW
    assert fields["_csrf_token"], "a fresh CSRF token, not the refused one"
    assert await change_tokens(db) == 0, "nothing happened before the form is sent on"
    done = await web.submit(action, {k: v for k, v in fields.items() if k != "_csrf_token"})
    assert done.status_code == 303
    assert done.headers["location"] == "/settings/email"
    assert await change_tokens(db) == 1


async def test_an_htmx_form_refused_for_sudo_is_kept_too(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await stale_sudo(accounts, web, clock)
    await web.get("/settings/email")
    refused = await web.submit(
        "/settings/email",
        {"email": NEW},
        htmx=True,
        headers={"hx-current-url": f"{BASE_URL}/settings/email"},
    )
    assert refused.headers["hx-redirect"] == "/sudo?next=/settings/email"
    prompt = await web.get("/sudo?next=/settings/email")
    assert 'hx-post="/sudo"' not in prompt.text, "the kept form's page must be a whole page"
    page = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/email"})
    assert kept_form(page)[1]["email"] == NEW


async def test_a_kept_form_opens_only_in_its_own_session(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await stale_sudo(accounts, web, clock)
    await web.get("/settings/email")
    await web.submit("/settings/email", {"email": NEW})
    kept = web.cookies["sudo-replay"]
    other = web.other_browser()
    await accounts.login(other)
    other.cookies.set("sudo-replay", kept)
    prompt = await other.get("/sudo?next=/settings/email")
    assert "Your changes are kept" not in prompt.text
    answer = await other.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/email"})
    assert answer.status_code == 303


async def test_a_kept_form_expires(accounts: Accounts, web: WebClient, clock: FrozenClock) -> None:
    await stale_sudo(accounts, web, clock)
    await web.get("/settings/email")
    await web.submit("/settings/email", {"email": NEW})
    clock.advance(timedelta(minutes=11))
    answer = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/email"})
    assert answer.status_code == 303


async def test_a_wrong_password_keeps_the_form_for_the_next_try(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await stale_sudo(accounts, web, clock)
    await web.get("/settings/email")
    await web.submit("/settings/email", {"email": NEW})
    wrong = await web.submit("/sudo", {"password": "not it at all", "next": "/settings/email"})
    assert wrong.status_code == 422
    page = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/email"})
    assert kept_form(page)[1]["email"] == NEW


# --- the strongest factor


async def test_an_account_with_an_authenticator_app_needs_its_code_too(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    user = await accounts.create()
    secret = await accounts.enrol_totp(user)
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    await web.get("/login/two-factor")
    assert (await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})).status_code == 303
    clock.advance(timedelta(minutes=16))
    prompt = await web.get("/sudo?next=/settings/sessions")
    assert 'name="code"' in prompt.text
    alone = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/sessions"})
    assert alone.status_code == 422
    assert "code" in alone.text
    wrong = await web.submit(
        "/sudo", {"password": DEFAULT_PASSWORD, "code": "123456", "next": "/settings/sessions"}
    )
    assert wrong.status_code == 422
    await db.refresh(user)
    assert user.mfa_failures == 1, "a wrong code at sudo counts towards the MFA lock"
    right = await web.submit(
        "/sudo",
        {"password": DEFAULT_PASSWORD, "code": accounts.totp_code(secret), "next": "/settings/sessions"},
    )
    assert right.status_code == 303


async def test_an_account_whose_second_factor_is_a_passkey_cannot_use_the_password_alone(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    user = await stale_sudo(accounts, web, clock)
    db.add(WebAuthnCredential(user_id=user.id, credential_id=b"\x01" * 16, public_key=b"key", name="Laptop"))
    await db.commit()
    prompt = await web.get("/sudo?next=/settings/sessions")
    assert 'name="password"' not in prompt.text
    refused = await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/sessions"})
    assert refused.status_code == 422
    assert (await web.get("/settings/sessions/revoke-others")).status_code in (404, 405)
