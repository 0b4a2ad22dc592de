"""SECURITY_POLICY overrides reach every place a number is used: limits, timeouts, page text, mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.settings import Settings
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

OVERRIDES = {"ip_auth_posts_per_minute": 3, "sudo_window": 600, "password_reset_ttl": 1800}


@pytest.fixture
async def custom(
    settings: Settings, db: AsyncSession, clock: FrozenClock
) -> AsyncIterator[tuple[WebClient, Accounts]]:
    app = create_app(settings.model_copy(update={"security_policy": OVERRIDES}), clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield WebClient(client), Accounts(db=db, security=app.state.security)


async def test_the_rate_limit_follows_the_policy(custom: tuple[WebClient, Accounts]) -> None:
    web, _ = custom
    await web.get("/login")
    codes = [
        (await web.submit("/login", {"email": f"u{n}@example.com", "password": "x" * 12})).status_code
        for n in range(4)
    ]
    assert codes == [422, 422, 422, 429]


async def test_page_text_and_mail_say_the_policy_numbers(
    custom: tuple[WebClient, Accounts], mailbox: Mailbox, clock: FrozenClock
) -> None:
    web, accounts = custom
    await accounts.create()
    await accounts.login(web)
    page = await web.get("/sudo?next=/settings")
    assert "You will not be asked again for 10 minutes." in page.text
    await web.submit("/logout")
    clock.advance(timedelta(minutes=2))  # a fresh rate-limit window
    await web.get("/forgot-password")
    await web.submit("/forgot-password", {"email": "ada@example.com"})
    [mail] = await mailbox.wait_for("ada@example.com")
    assert "it works once, for 30 minutes" in mail.text_body
