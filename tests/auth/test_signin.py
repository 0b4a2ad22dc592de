"""Signing in and out: generic failures, constant work, fixation, redirects, throttling, hash upgrades."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote, urlsplit

import bcrypt
import httpx
import pytest
from argon2 import PasswordHasher as Argon2Hasher
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.passwords import PasswordHasher
from app.auth.models import AuthSession, User
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.web import BASE_URL, WebClient

GENERIC = "That email and password do not match an account we can sign you in to."


def masked(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    """Status, headers and body with the per-response random values blanked out."""
    volatile = {"content-security-policy", "x-request-id", "date", "set-cookie", "content-length"}
    headers = {k: v for k, v in response.headers.items() if k not in volatile}
    body = re.sub(r'value="[0-9a-f]{100,}"', 'value="CSRF"', response.text)
    body = re.sub(r'nonce="[^"]+"', 'nonce="N"', body)
    body = re.sub(r'(name="email" type="email" value=")[^"]*"', r'\1EMAIL"', body)
    return response.status_code, headers, body


async def attempt(web: WebClient, email: str, password: str) -> httpx.Response:
    await web.get("/login")
    return await web.submit("/login", {"email": email, "password": password})


async def session_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(AuthSession)) or 0)


async def test_every_kind_of_failure_gets_the_same_answer(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create("known@example.com")
    await accounts.create("unconfirmed@example.com", confirmed=False)
    await accounts.create("disabled@example.com", active=False)
    answers = [
        await attempt(web, "known@example.com", "not the right password"),
        await attempt(web, "nobody@example.com", "not the right password"),
        await attempt(web, "unconfirmed@example.com", DEFAULT_PASSWORD),
        await attempt(web, "disabled@example.com", DEFAULT_PASSWORD),
        await attempt(web, "not an address", DEFAULT_PASSWORD),
    ]
    first = masked(answers[0])
    assert first[0] == 422
    assert GENERIC in answers[0].text
    for answer in answers[1:]:
        assert masked(answer) == first
    assert await session_count(db) == 0


@pytest.mark.parametrize("who", ["known@example.com", "nobody@example.com"])
async def test_a_failed_sign_in_costs_exactly_one_hash_verification(
    accounts: Accounts, web: WebClient, monkeypatch: pytest.MonkeyPatch, who: str
) -> None:
    await accounts.create("known@example.com")
    calls: list[str] = []
    original = PasswordHasher.verify_blocking

    def counting(self: PasswordHasher, stored_hash: str, password: str) -> bool:
        calls.append(stored_hash)
        return original(self, stored_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify_blocking", counting)
    response = await attempt(web, who, "wrong password, long enough")
    assert response.status_code == 422
    assert len(calls) == 1


async def test_success_redirects_and_sets_a_fresh_session_cookie(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    response = await accounts.login(web)
    assert response.headers["location"] == "/dashboard"
    token = web.cookies["session"]
    assert len(token) >= 43
    row = (await db.scalars(select(AuthSession))).one()
    assert token.encode() not in row.token_hash
    assert row.token_hash != token.encode()
    assert (await web.get("/settings/profile")).status_code == 200


async def test_a_cookie_value_the_server_did_not_issue_is_never_adopted(
    app: Litestar, accounts: Accounts, web: WebClient
) -> None:
    await accounts.create()
    web.cookies.set("session", "attacker-chosen-value", domain="testserver.local")
    await accounts.login(web)
    assert web.cookies["session"] != "attacker-chosen-value"
    attacker = web.other_browser()
    attacker.cookies.set("session", "attacker-chosen-value")
    response = await attacker.get("/settings/profile", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_each_sign_in_gets_a_new_session_token(
    accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await accounts.create()
    await accounts.login(web)
    first = web.cookies["session"]
    await web.submit("/logout")
    await accounts.login(web)
    assert web.cookies["session"] != first


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "/\\evil.com",
        "/%2F%2Fevil.com",
        "https:evil.com",
        "/%09/evil.com",
        "／／evil.com",
        "https://evil.com/",
        "javascript:alert(1)",
    ],
)
async def test_next_parameter_cannot_redirect_off_site(
    accounts: Accounts, web: WebClient, target: str
) -> None:
    await accounts.create()
    page = await web.get(f"/login?next={quote(target, safe='')}")
    assert page.status_code == 200
    response = await web.submit(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "next": target}
    )
    location = response.headers["location"]
    assert urlsplit(location).netloc == ""
    assert location == "/dashboard"


async def test_next_parameter_keeps_a_local_path_with_its_query(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    response = await web.submit(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "next": "/settings?tab=1"}
    )
    assert response.headers["location"] == "/settings?tab=1"


async def test_a_protected_page_sends_you_to_sign_in_and_back(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    response = await web.get("/settings/sessions", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/sessions"
    page = await web.get(response.headers["location"])
    assert 'name="next" value="/settings/sessions"' in page.text
    signed_in = await web.submit(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "next": "/settings/sessions"}
    )
    assert signed_in.headers["location"] == "/settings/sessions"


async def test_htmx_request_for_a_protected_fragment_gets_hx_redirect(web: WebClient) -> None:
    response = await web.get(
        "/settings/sessions",
        htmx=True,
        follow_redirects=False,
        headers={"hx-current-url": f"{BASE_URL}/settings/profile"},
    )
    assert response.headers["hx-redirect"] == "/login?next=/settings/profile"
    assert "<form" not in response.text


async def test_sign_out_deletes_the_session_and_clears_site_data(
    accounts: Accounts, web: WebClient, app: Litestar, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web)
    stolen = web.cookies["session"]
    response = await web.submit("/logout")
    assert response.status_code == 303
    # Cookies are expired one by one (the trusted-browser cookie stays): Clear-Site-Data's
    # "cookies" would wipe that too in a real browser.
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    expired = [c for c in response.headers.get_list("set-cookie") if c.startswith("session=")]
    assert expired
    assert all("Max-Age=0" in c for c in expired)
    assert await session_count(db) == 0
    replay = web.other_browser()
    replay.cookies.set("session", stolen)
    again = await replay.get("/settings/profile", follow_redirects=False)
    assert again.status_code == 303


async def test_sign_out_by_get_does_nothing(accounts: Accounts, web: WebClient, db: AsyncSession) -> None:
    await accounts.create()
    await accounts.login(web)
    response = await web.get("/logout")
    assert response.status_code == 405
    assert await session_count(db) == 1


async def test_five_failures_then_the_address_must_wait(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    for _ in range(5):
        assert (await attempt(web, "ada@example.com", "wrong password here")).status_code == 422
    # Five failures are free; the sixth attempt must wait a second, right password or not.
    blocked = await attempt(web, "ada@example.com", DEFAULT_PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert "Too many requests" in blocked.text
    clock.advance(timedelta(seconds=1))
    assert (await attempt(web, "ada@example.com", DEFAULT_PASSWORD)).status_code == 303
    await web.submit("/logout")
    # A success resets the count: the next failure is free again.
    assert (await attempt(web, "ada@example.com", "wrong password here")).status_code == 422
    assert (await attempt(web, "ada@example.com", DEFAULT_PASSWORD)).status_code == 303


async def test_unknown_addresses_are_throttled_exactly_like_known_ones(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create()
    for email in ("ada@example.com", "ghost@example.com"):
        for _ in range(5):
            await attempt(web, email, "wrong password here")
    known = await attempt(web, "ada@example.com", "wrong password here")
    unknown = await attempt(web, "ghost@example.com", "wrong password here")
    assert known.status_code == unknown.status_code == 429
    assert masked(known) == masked(unknown)


async def test_after_the_hard_cap_even_the_right_password_is_refused(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    for _ in range(100):
        clock.advance(timedelta(minutes=16))
        assert (await attempt(web, "ada@example.com", "wrong password here")).status_code == 422
    clock.advance(timedelta(days=2))
    assert (await attempt(web, "ada@example.com", DEFAULT_PASSWORD)).status_code == 429


async def test_eleventh_sign_in_post_from_one_address_within_a_minute_is_refused(web: WebClient) -> None:
    for number in range(10):
        response = await attempt(web, f"user{number}@example.com", "wrong password here")
        assert response.status_code == 422
    refused = await attempt(web, "user99@example.com", "wrong password here")
    assert refused.status_code == 429
    assert "retry-after" in refused.headers


async def test_legacy_bcrypt_hash_is_upgraded_on_sign_in(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    legacy = bcrypt.hashpw(DEFAULT_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    user = await accounts.create(password_hash=legacy)
    await accounts.login(web)
    await db.refresh(user)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    await web.submit("/logout")
    await accounts.login(web)


async def test_overlong_password_against_bcrypt_is_a_plain_failure(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    legacy = bcrypt.hashpw(DEFAULT_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    user = await accounts.create(password_hash=legacy)
    response = await attempt(web, "ada@example.com", "x" * 100)
    assert response.status_code == 422
    assert GENERIC in response.text
    await db.refresh(user)
    assert user.password_hash == legacy


async def test_outdated_argon2_parameters_are_upgraded_only_on_success(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(DEFAULT_PASSWORD)
    user = await accounts.create(password_hash=weak)
    await attempt(web, "ada@example.com", "wrong password here")
    await db.refresh(user)
    assert user.password_hash == weak
    await accounts.login(web)
    await db.refresh(user)
    assert user.password_hash != weak
    assert "m=8192" not in (user.password_hash or "")


async def test_password_field_invites_password_managers(web: WebClient) -> None:
    page = await web.get("/login")
    assert re.search(
        r'<input id="login-password" name="password" type="password" autocomplete="current-password"',
        page.text,
    )
    assert "onpaste" not in page.text


async def test_fresh_database_has_no_accounts(db: AsyncSession) -> None:
    assert await db.scalar(select(func.count()).select_from(User)) == 0
