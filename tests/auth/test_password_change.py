"""Changing the password in settings: the current one is required, other devices are signed out [7][24][26]."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AuthSession, LoginThrottle, RememberToken, User
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

NEW_PASSWORD = "a brand new passphrase 2027"


async def change(
    web: WebClient, current: str | None, new: str = NEW_PASSWORD, **extra: str
) -> httpx.Response:
    await web.get("/settings/password")
    data = {"new_password": new, **extra}
    if current is not None:
        data["current_password"] = current
    return await web.submit("/settings/password", data)


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def test_without_the_current_password_nothing_changes(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    before = user.password_hash
    response = await change(web, None)
    assert response.status_code == 422
    assert "Enter your current password." in response.text
    await db.refresh(user)
    assert user.password_hash == before


async def test_a_wrong_current_password_is_refused_and_counted(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    before = user.password_hash
    response = await change(web, "not my password at all")
    assert response.status_code == 422
    assert "That is not your current password." in response.text
    await db.refresh(user)
    assert user.password_hash == before
    assert await db.scalar(select(LoginThrottle.failures)) == 1


async def test_the_change_signs_out_other_devices_and_keeps_this_one(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.create()
    other = web.other_browser()
    await accounts.login(other, remember="on")
    await accounts.login(web)
    response = await change(web, DEFAULT_PASSWORD, sign_out_others="on")
    assert response.headers["location"] == "/settings/password"
    assert await signed_in(web)
    assert not await signed_in(other)
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 1
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0
    notices = [
        m
        for m in await mailbox.wait_for("ada@example.com")
        if m.subject == "Your Gatehouse password was changed"
    ]
    assert len(notices) == 1
    fresh = web.other_browser()
    await fresh.get("/login")
    assert (
        await fresh.submit("/login", {"email": "ada@example.com", "password": NEW_PASSWORD})
    ).status_code == 303


async def test_other_devices_may_stay_signed_in_when_asked(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    other = web.other_browser()
    await accounts.login(other)
    await accounts.login(web)
    await change(web, DEFAULT_PASSWORD)  # the checkbox left unticked
    assert await signed_in(other)


async def test_the_new_password_must_follow_the_policy(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    response = await change(web, DEFAULT_PASSWORD, "short")
    assert response.status_code == 422
    assert "Use at least 12 characters" in response.text
    await db.refresh(user)
    assert (await db.get(User, user.id)) is not None


async def test_a_wrong_current_password_and_a_weak_new_one_are_both_reported(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create()
    await accounts.login(web)
    response = await change(web, "not my password at all", "short")
    assert response.status_code == 422
    assert "That is not your current password." in response.text
    assert "Use at least 12 characters" in response.text


async def test_the_form_offers_sign_out_of_other_devices_by_default(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create()
    await accounts.login(web)
    page = await web.get("/settings/password")
    assert '<input id="sign-out-others" name="sign_out_others" type="checkbox" checked>' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert 'autocomplete="new-password"' in page.text


async def test_the_change_gives_this_browser_a_new_session_token(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    await accounts.login(web)
    before = web.cookies["session"]
    await change(web, DEFAULT_PASSWORD)
    assert web.cookies["session"] != before
    assert await signed_in(web)
    stale = web.other_browser()
    stale.cookies.set("session", before)
    assert not await signed_in(stale)


async def test_the_change_retires_outstanding_reset_links(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    import re

    await accounts.create()
    await accounts.login(web)  # first: a sign-in retires reset links by itself
    asker = web.other_browser()
    await asker.get("/forgot-password")
    await asker.submit("/forgot-password", {"email": "ada@example.com"})
    [mail] = await mailbox.wait_for("ada@example.com")
    link = re.search(r"http://testserver\.local(/reset-password\?token=\S+)", mail.text_body).group(1)  # type: ignore[union-attr]
    await change(web, DEFAULT_PASSWORD)
    await asker.get(link)
    assert (
        await asker.submit("/reset-password", {"password": "another long passphrase 1"})
    ).status_code == 410
