"""Impersonation [75][76]: who may, for how long, what is refused meanwhile, and what is recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, AuthSession
from app.auth.core.platform_admin import grant_admin
from app.auth.models import User
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts
from tests.support.web import WebClient

REASON = "Ticket 1234: the user cannot find the export button"


async def start(admin: Admin, target: User, reason: str = REASON) -> None:
    await admin.web.get(f"/admin/users/{target.id}")
    response = await admin.web.submit(f"/admin/users/{target.id}/impersonate", {"reason": reason})
    assert response.status_code == 303


async def own_sessions(db: AsyncSession, user: User) -> int:
    count = await db.scalar(
        select(func.count(AuthSession.id)).where(
            AuthSession.user_id == user.id, AuthSession.impersonator_id.is_(None)
        )
    )
    return int(count or 0)


@pytest.fixture
async def target(accounts: Accounts) -> User:
    return await accounts.create("ada@example.com")


async def test_impersonation_signs_the_browser_in_as_the_user_under_a_banner(
    admin: Admin, target: User
) -> None:
    before = admin.web.cookies["session"]
    await start(admin, target)
    assert admin.web.cookies["session"] != before
    home = await admin.web.get("/")
    assert "You are signed in as" in home.text
    assert "ada@example.com" in home.text
    assert "minutes left" in home.text
    assert 'action="/impersonation/stop"' in home.text


async def test_the_impersonation_cookie_differs_from_the_admins_and_the_targets(
    admin: Admin, target: User, accounts: Accounts
) -> None:
    own = admin.web.other_browser()
    await accounts.login(own, "ada@example.com")
    admins = admin.web.cookies["session"]
    await start(admin, target)
    assert admin.web.cookies["session"] not in (admins, own.cookies["session"])


async def test_an_admin_cannot_be_impersonated(admin: Admin, accounts: Accounts, db: AsyncSession) -> None:
    other = await accounts.create("ivy@example.com")
    await grant_admin(db, other.id, can_impersonate=False)
    await db.commit()
    before = admin.web.cookies["session"]
    await start(admin, other)
    assert admin.web.cookies["session"] == before
    refused = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.impersonation.started"))
    assert refused is not None
    assert (refused.outcome, refused.details["refused"]) == ("failure", "target_is_admin")
    assert (
        await db.scalar(select(func.count(AuthSession.id)).where(AuthSession.impersonator_id.is_not(None)))
        == 0
    )


async def test_impersonation_needs_the_separate_permission(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    await grant_admin(db, admin.user.id, can_impersonate=False)
    await db.commit()
    before = admin.web.cookies["session"]
    await start(admin, target)
    assert admin.web.cookies["session"] == before


async def test_impersonation_needs_a_typed_reason(admin: Admin, target: User) -> None:
    before = admin.web.cookies["session"]
    await start(admin, target, reason="because")
    assert admin.web.cookies["session"] == before


async def test_impersonation_needs_fresh_sudo(admin: Admin, target: User, clock: FrozenClock) -> None:
    await admin.web.get(f"/admin/users/{target.id}")
    clock.advance(timedelta(minutes=16))
    response = await admin.web.submit(f"/admin/users/{target.id}/impersonate", {"reason": REASON})
    assert response.headers["location"].startswith("/sudo")


async def test_the_users_own_sessions_are_untouched(
    admin: Admin, target: User, accounts: Accounts, db: AsyncSession
) -> None:
    own = admin.web.other_browser()
    await accounts.login(own, "ada@example.com")
    await start(admin, target)
    assert await own_sessions(db, target) == 1
    assert (await own.get("/settings/profile", follow_redirects=False)).status_code == 200


BLOCKED_PAGES = (
    "/admin/",
    "/admin/users",
    "/settings/password",
    "/settings/email",
    "/settings/two-factor",
    "/settings/passkeys",
    "/settings/sessions",
    "/settings/security",
    "/sudo",
)
BLOCKED_POSTS = (
    ("/settings/password", {"current_password": "x", "new_password": "a new long password 123"}),
    ("/settings/email", {"email": "new@example.com"}),
    ("/settings/two-factor/setup", {}),
    ("/settings/two-factor/disable", {"code": "123456"}),
    ("/settings/two-factor/backup-codes", {}),
    ("/settings/passkeys/options", {}),
    ("/settings/sessions/revoke-others", {}),
    ("/settings/security/trusted/revoke-all", {}),
    ("/sudo", {"password": "correct horse battery staple"}),
)


async def test_every_sensitive_page_is_refused_while_impersonating(admin: Admin, target: User) -> None:
    await start(admin, target)
    for path in BLOCKED_PAGES:
        for htmx in (False, True):
            response = await admin.web.get(path, htmx=htmx, follow_redirects=False)
            assert response.status_code == 403, (path, htmx)


async def test_every_sensitive_action_is_refused_while_impersonating(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    await start(admin, target)
    await admin.web.get("/settings")
    for path, data in BLOCKED_POSTS:
        response = await admin.web.submit(path, data)
        assert response.status_code == 403, path
    await db.refresh(target)
    assert target.email == "ada@example.com"


async def test_events_written_while_impersonating_carry_the_impersonator(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    await start(admin, target)
    await admin.web.get("/settings/profile")
    response = await admin.web.submit("/settings/profile", {"display_name": "Ada L."})
    assert response.status_code == 303
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "account.profile.updated"))
    assert event is not None
    assert (event.actor_id, event.impersonator_id) == (target.id, admin.user.id)


async def test_start_and_stop_are_audited_with_admin_target_reason_and_address(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    await start(admin, target)
    await admin.web.get("/")
    await admin.web.submit("/impersonation/stop")
    started = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.impersonation.started"))
    stopped = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.impersonation.stopped"))
    assert started is not None
    assert stopped is not None
    assert (started.actor_id, started.target_id, started.details["reason"]) == (
        admin.user.id,
        str(target.id),
        REASON,
    )
    assert started.ip_address
    assert (stopped.actor_id, stopped.target_id, stopped.impersonator_id) == (
        admin.user.id,
        str(target.id),
        None,
    )


async def test_stop_restores_the_admins_session_under_a_new_token(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    admins_token = admin.web.cookies["session"]
    await start(admin, target)
    impersonation_token = admin.web.cookies["session"]
    await admin.web.get("/")
    response = await admin.web.submit("/impersonation/stop")
    assert response.status_code == 303
    restored = admin.web.cookies["session"]
    assert restored not in (admins_token, impersonation_token)
    assert (await admin.web.get("/admin/", follow_redirects=False)).status_code == 200
    for stale in (admins_token, impersonation_token):
        copy = admin.web.other_browser()
        copy.jar.set("session", stale)
        assert (await copy.get("/settings/profile", follow_redirects=False)).status_code == 303, stale
    assert (
        await db.scalar(select(func.count(AuthSession.id)).where(AuthSession.impersonator_id.is_not(None)))
        == 0
    )


async def test_the_admins_old_token_opens_nothing_during_the_impersonation(
    admin: Admin, target: User
) -> None:
    admins_token = admin.web.cookies["session"]
    await start(admin, target)
    copy = admin.web.other_browser()
    copy.jar.set("session", admins_token)
    assert (await copy.get("/admin/", follow_redirects=False)).status_code == 404


async def test_an_impersonation_ends_after_thirty_minutes_without_falling_back_to_the_admin(
    admin: Admin, target: User, clock: FrozenClock, db: AsyncSession
) -> None:
    await start(admin, target)
    for _ in range(3):  # busy the whole time: the idle timeout is not what ends it
        clock.advance(timedelta(minutes=9, seconds=50))
        assert (await admin.web.get("/settings/profile", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(seconds=31))
    assert (await admin.web.get("/settings/profile", follow_redirects=False)).status_code == 303
    assert (await admin.web.get("/admin/", follow_redirects=False)).status_code == 404
    assert (
        await db.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == admin.user.id)) == 0
    )


async def test_the_user_sees_that_support_accessed_the_account(
    admin: Admin, target: User, accounts: Accounts
) -> None:
    await start(admin, target)
    own = admin.web.other_browser()
    await accounts.login(own, "ada@example.com")
    page = await own.get("/settings/security")
    assert "Our support team signed in to your account" in page.text


async def test_a_user_who_is_not_impersonating_cannot_call_stop(accounts: Accounts, web: WebClient) -> None:
    await accounts.create("bo@example.com")
    await accounts.login(web, "bo@example.com")
    await web.get("/settings")
    assert (await web.submit("/impersonation/stop")).status_code == 404
    assert (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def test_the_user_is_mailed_only_when_the_setting_asks(
    admin: Admin, target: User, settings: Any, app: Litestar, db: AsyncSession
) -> None:
    before = await queued_mails(db)
    await start(admin, target)
    assert await queued_mails(db) == before
    await admin.web.submit("/impersonation/stop")
    app.state.settings = settings.model_copy(update={"impersonation_notify_user": True})
    await start(admin, target)
    assert await queued_mails(db) == before + 1


async def queued_mails(db: AsyncSession) -> int:
    """Mails deferred so far (each is one outbox row; the recipient inside is sealed)."""
    count = await db.scalar(text("SELECT count(*) FROM job_outbox WHERE task = 'send_email'"))
    return int(count or 0)


async def test_signing_out_while_impersonating_ends_both_sessions(
    admin: Admin, target: User, db: AsyncSession
) -> None:
    await start(admin, target)
    await admin.web.get("/")
    await admin.web.submit("/logout")
    assert (
        await db.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == admin.user.id)) == 0
    )
    assert (
        await db.scalar(select(func.count(AuthSession.id)).where(AuthSession.impersonator_id.is_not(None)))
        == 0
    )
    logout = await db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.logout"))
    assert logout is not None
    assert (logout.actor_id, logout.impersonator_id) == (target.id, admin.user.id)
