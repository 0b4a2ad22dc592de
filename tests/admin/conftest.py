"""Fixtures for the admin console tests: an administrator with two-step verification, signed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.platform_admin import grant_admin
from app.auth.models import User
from tests.support.accounts import Accounts
from tests.support.web import WebClient


@dataclass
class Admin:
    """The signed-in administrator and their browser."""

    user: User
    web: WebClient
    totp_secret: str


async def sign_in_with_code(accounts: Accounts, web: WebClient, email: str, secret: str) -> None:
    """Password, then the authenticator code (a fresh sudo window starts with the sign-in)."""
    await accounts.login(web, email)
    response = await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})
    assert response.status_code == 303, response.text[:300]


@pytest.fixture
async def admin(accounts: Accounts, db: AsyncSession, web: WebClient) -> Admin:
    """gus@example.com: administrator allowed to impersonate, with an authenticator app, signed in."""
    user = await accounts.create("gus@example.com")
    await grant_admin(db, user.id, can_impersonate=True)
    await db.commit()
    secret = await accounts.enrol_totp(user)
    await sign_in_with_code(accounts, web, "gus@example.com", secret)
    return Admin(user=user, web=web, totp_secret=secret)
