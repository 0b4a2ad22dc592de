"""Requirement 91: the logs of a whole account journey contain none of its secrets."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.settings import Settings
from tests.support.accounts import Accounts, sudo
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

PASSWORD = "a very particular passphrase 7"
TOKEN = re.compile(r"token=([A-Za-z0-9_\-]+)")
CODE = re.compile(r"\b(\d{3}) (\d{3})\b")


def token_in(text: str) -> str:
    found = TOKEN.search(text)
    assert found is not None
    return found.group(1)


def code_in(text: str) -> str:
    found = CODE.search(text)
    assert found is not None
    return found.group(1) + found.group(2)


def chatty_app(settings: Settings, clock: FrozenClock) -> Litestar:
    """The app logging everything it can (DEBUG, JSON lines). Build it in the test body: its log
    handler keeps the stderr it finds when built, and only the call phase's stderr reaches `capfd`."""
    return create_app(settings.model_copy(update={"log_level": "DEBUG", "log_json": True}), clock=clock)


def assert_not_logged(logged: str, secrets: list[str]) -> None:
    assert '"event": "request"' in logged, "the journey was logged at all"
    for secret in secrets:
        assert secret
        assert secret not in logged, f"a secret reached the log: {secret[:6]}..."


async def test_registration_confirmation_and_sign_in_leave_no_secret_in_the_logs(
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    mailbox: Mailbox,
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with AsyncTestClient(app=chatty_app(settings, clock), base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.get("/register")
        await web.submit("/register", {"email": "logs@example.com", "password": PASSWORD})
        [mail] = await mailbox.wait_for("logs@example.com")
        token, code = token_in(mail.text_body), code_in(mail.text_body)
        await web.get(f"/confirm-email?token={token}")
        await web.submit("/confirm-email")
        await web.submit("/logout")
        await web.get("/login")
        await web.submit("/login", {"email": "logs@example.com", "password": PASSWORD, "remember": "on"})
        session, remember, csrf = web.cookies["session"], web.cookies["remember"], web.csrf_token
        await web.get("/settings/sessions")
    secrets = [PASSWORD, token, code, session, remember, csrf or "", remember.split(".")[1]]
    assert_not_logged(capfd.readouterr().err, secrets)


@pytest.mark.needs_features("magic_link")
async def test_reset_magic_link_email_and_password_change_leave_no_secret_in_the_logs(
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    mailbox: Mailbox,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = chatty_app(settings, clock)
    accounts = Accounts(db=db, security=app.state.security)
    await accounts.create("logs@example.com", PASSWORD)
    secrets: list[str] = []
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        # Password reset by link.
        await web.get("/forgot-password")
        await web.submit("/forgot-password", {"email": "logs@example.com"})
        [reset] = await mailbox.wait_for("logs@example.com", subject="Reset your Gatehouse password")
        reset_token, reset_password = token_in(reset.text_body), "the reset passphrase 12"
        await web.get(f"/reset-password?token={reset_token}")
        assert (await web.submit("/reset-password", {"password": reset_password})).status_code == 303
        secrets += [reset_token, reset_password]
        # Magic link: once by link, once by the code typed in the asking browser.
        for count, way in enumerate(("link", "code"), start=1):
            await web.get("/login/email")
            await web.submit("/login/email", {"email": "logs@example.com"})
            message = (
                await mailbox.wait_for("logs@example.com", count=count, subject="Sign in to Gatehouse")
            )[-1]
            link_token, code = token_in(message.text_body), code_in(message.text_body)
            secrets += [link_token, code]
            if way == "link":
                await web.get(f"/login/email/link?token={link_token}")
                assert (await web.submit("/login/email/link")).status_code == 303
                assert (await web.submit("/logout")).status_code == 303
            else:
                assert (await web.submit("/login/email/code", {"code": code})).status_code == 303
        # Email change (with sudo) and password change.
        await sudo(web, "/settings/email", password=reset_password)
        await web.get("/settings/email")
        await web.submit("/settings/email", {"email": "moved@example.com"})
        [change] = await mailbox.wait_for("moved@example.com", subject="Confirm your new Gatehouse address")
        change_token = token_in(change.text_body)
        await web.get(f"/settings/email/confirm?token={change_token}")
        assert (await web.submit("/settings/email/confirm")).status_code == 303
        new_password = "the changed passphrase 34"
        await web.get("/settings/password")
        changed = await web.submit(
            "/settings/password", {"current_password": reset_password, "new_password": new_password}
        )
        assert changed.status_code == 303, changed.text[:300]
        secrets += [change_token, new_password, web.cookies["session"], web.csrf_token or ""]
    logged = capfd.readouterr().err
    assert logged.count('"event": "request"') >= 15, "every step was logged"
    assert_not_logged(logged, secrets)


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
