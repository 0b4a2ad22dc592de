"""Accounts for tests: create users straight in the database, sign them in through the real form."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pyotp
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.identity import canonical_email
from app.auth.core.models import TotpCredential
from app.auth.core.toolkit import Security
from app.auth.models import User
from tests.support.web import WebClient

DEFAULT_PASSWORD = "correct horse battery staple"


@dataclass
class Accounts:
    """Make users and sign them in."""

    db: AsyncSession
    security: Security

    async def create(
        self,
        email: str = "ada@example.com",
        password: str | None = DEFAULT_PASSWORD,
        *,
        confirmed: bool = True,
        active: bool = True,
        password_hash: str | None = None,
    ) -> User:
        """A user, confirmed and active unless told otherwise."""
        user = User(
            email=email,
            email_canonical=canonical_email(email),
            password_hash=password_hash or (await self.security.hasher.hash(password) if password else None),
            confirmed_at=self.security.clock.now() if confirmed else None,
            is_active=active,
        )
        self.db.add(user)
        await self.db.commit()
        return user

    async def enrol_totp(self, user: User) -> str:
        """Give `user` an active authenticator app (straight in the database); its base32 secret."""
        secret = pyotp.random_base32(length=32)
        self.db.add(
            TotpCredential(
                user_id=user.id,
                secret_sealed=self.security.at_rest.seal(secret.encode(), b"totp:" + user.id.bytes),
                confirmed_at=self.security.clock.now(),
            )
        )
        await self.db.commit()
        return secret

    def totp_code(self, secret: str, steps: int = 0) -> str:
        """The code of `secret` at the app's clock, `steps` time steps away."""
        now = self.security.clock.now().timestamp() + steps * 30
        return pyotp.TOTP(secret).at(now)

    async def login(
        self,
        web: WebClient,
        email: str = "ada@example.com",
        password: str = DEFAULT_PASSWORD,
        *,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> httpx.Response:
        """Sign in through the form (extra form `fields` such as remember="on"); asserts it worked."""
        await web.get("/login")
        response = await web.submit(
            "/login", {"email": email, "password": password, **fields}, headers=headers
        )
        assert response.status_code == 303, response.text[:500]
        return response


async def sudo(
    web: WebClient, next_path: str = "/settings", password: str = DEFAULT_PASSWORD, **fields: str
) -> httpx.Response:
    """Re-authenticate on the sudo page (as after the 15-minute window), asserting it worked.

    The answer is a redirect to `next_path`, or, when a refused form was kept, the page that
    sends that form on (200, `sudo_continue.html`).
    """
    await web.get(f"/sudo?next={next_path}")
    response = await web.submit("/sudo", {"password": password, "next": next_path, **fields})
    assert response.status_code == 303 or "data-autosubmit" in response.text, response.text[:300]
    return response


@pytest.fixture
def accounts(db: AsyncSession, app: Litestar) -> Accounts:
    """User factory and sign-in helper (uses the app's hasher and clock)."""
    return Accounts(db=db, security=app.state.security)
