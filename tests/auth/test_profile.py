"""The profile form changes the display name and nothing else."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def test_display_name_is_saved_and_shown(accounts: Accounts, web: WebClient, db: AsyncSession) -> None:
    user = await accounts.create()
    await accounts.login(web)
    await web.get("/settings/profile")
    response = await web.submit("/settings/profile", {"display_name": "Ada Lovelace"})
    assert response.headers["location"] == "/settings/profile"
    page = await web.get("/settings/profile")
    assert "Profile saved." in page.text
    assert 'value="Ada Lovelace"' in page.text
    await db.refresh(user)
    assert user.display_name == "Ada Lovelace"


async def test_line_breaks_in_a_display_name_are_refused(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    await web.get("/settings/profile")
    response = await web.submit("/settings/profile", {"display_name": "Bob\r\nBcc: x@evil.example"})
    assert response.status_code == 422
    assert "no line breaks" in response.text
    await db.refresh(user)
    assert user.display_name == ""


async def test_fields_the_form_does_not_offer_cannot_be_changed(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    await web.get("/settings/profile")
    await web.submit(
        "/settings/profile",
        {
            "display_name": "Ada",
            "email": "other@example.com",
            "is_active": "false",
            "confirmed_at": "",
            "is_admin": "true",
        },
    )
    await db.refresh(user)
    assert user.email == "ada@example.com"
    assert user.is_active is True
    assert user.confirmed_at is not None


async def test_markup_in_a_display_name_is_escaped(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    await accounts.login(web)
    await web.get("/settings/profile")
    await web.submit("/settings/profile", {"display_name": "<img src=x onerror=alert(1)>"})
    page = await web.get("/settings/profile")
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
