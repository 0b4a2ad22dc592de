"""Requirement 91: the logs of a whole account journey contain none of its secrets."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.settings import Settings
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

PASSWORD = "a very particular passphrase 7"


async def test_registration_confirmation_and_sign_in_leave_no_secret_in_the_logs(
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    mailbox: Mailbox,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = create_app(settings.model_copy(update={"log_level": "DEBUG", "log_json": True}), clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.get("/register")
        await web.submit("/register", {"email": "logs@example.com", "password": PASSWORD})
        [mail] = await mailbox.wait_for("logs@example.com")
        token = re.search(r"token=([A-Za-z0-9_\-]+)", mail.text_body).group(1)  # type: ignore[union-attr]
        code = "".join(re.search(r"\b(\d{3}) (\d{3})\b", mail.text_body).groups())  # type: ignore[union-attr]
        await web.get(f"/confirm-email?token={token}")
        await web.submit("/confirm-email")
        await web.submit("/logout")
        await web.get("/login")
        await web.submit("/login", {"email": "logs@example.com", "password": PASSWORD, "remember": "on"})
        session, remember, csrf = web.cookies["session"], web.cookies["remember"], web.csrf_token
        await web.get("/settings/sessions")
    logged = capfd.readouterr().err
    assert '"event": "request"' in logged, "the journey was logged at all"
    for secret in (PASSWORD, token, code, session, remember, csrf, remember.split(".")[1]):
        assert secret
        assert secret not in logged, f"a secret reached the log: {secret[:6]}..."


async def test_control_characters_in_logged_values_cannot_forge_lines(
    settings: Settings, db: AsyncSession, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"log_level": "INFO", "log_json": True}))
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        await client.get("/nothing%0D%0Ainjected=1")
    lines = [line for line in capfd.readouterr().err.splitlines() if "injected" in line]
    assert lines, "the request was logged"
    assert all(line.lstrip().startswith("{") for line in lines), (
        "no forged line starts outside the JSON record"
    )
