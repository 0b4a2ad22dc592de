"""Who may open the admin console [74][90]: administrators with a second factor, nobody else."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.auth.core.platform_admin import grant_admin
from app.auth.models import User
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient


def concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+:uuid\}", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"\{[^}]+:int\}", "1", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def admin_routes(app: Litestar) -> list[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if route.path.startswith("/admin"):
            for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
                found.add((method, concrete(route.path)))
    return sorted(found)


async def test_the_console_has_routes_to_check(app: Litestar) -> None:
    assert len(admin_routes(app)) >= 15


async def test_a_fresh_database_has_no_administrator_and_no_user(db: AsyncSession) -> None:
    assert (await db.scalars(select(User))).all() == []


async def test_a_signed_out_visitor_gets_404_on_every_admin_route(app: Litestar, web: WebClient) -> None:
    for method, path in admin_routes(app):
        for htmx in (False, True):
            response = (
                await web.get(path, htmx=htmx, follow_redirects=False)
                if method == "GET"
                else await web.submit(path, {"reason": "x" * 20}, htmx=htmx)
            )
            assert response.status_code == 404, (method, path, htmx)


async def test_a_signed_in_non_admin_gets_404_on_every_admin_route(
    app: Litestar, accounts: Accounts, web: WebClient
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    for method, path in admin_routes(app):
        for htmx in (False, True):
            response = (
                await web.get(path, htmx=htmx, follow_redirects=False)
                if method == "GET"
                else await web.submit(path, {"reason": "x" * 20}, htmx=htmx)
            )
            assert response.status_code == 404, (method, path, htmx)


async def test_an_org_owner_is_not_an_admin(accounts: Accounts, web: WebClient, db: AsyncSession) -> None:
    from app.auth.core.orgs import create_org

    user = await accounts.create("owner@example.com")
    await create_org(db, owner_id=user.id, name="Acme", slug="acme")
    await db.commit()
    await accounts.login(web, "owner@example.com")
    assert (await web.get("/admin/")).status_code == 404


async def test_an_admin_without_two_factor_is_sent_to_enrol(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create("gus@example.com")
    await grant_admin(db, user.id, can_impersonate=False)
    await db.commit()
    await accounts.login(web, "gus@example.com")
    response = await web.get("/admin/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/two-factor"


async def test_an_admin_with_two_factor_opens_the_console(admin: Admin) -> None:
    response = await admin.web.get("/admin/")
    assert response.status_code == 200
    assert "Admin" in response.text
    assert "Dashboard" in response.text


async def test_every_admin_page_opens(admin: Admin, accounts: Accounts) -> None:
    other = await accounts.create("ada@example.com")
    for path in (
        "/admin/",
        "/admin/users",
        f"/admin/users/{other.id}",
        # --- feature: orgs
        "/admin/orgs",
        # --- end feature: orgs
        "/admin/audit",
        "/admin/jobs",
        "/admin/audit?outcome=failure",
    ):
        response = await admin.web.get(path)
        assert response.status_code == 200, (path, response.text[:500])


async def test_a_write_without_fresh_sudo_goes_to_sudo(
    admin: Admin, accounts: Accounts, clock: FrozenClock, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    await admin.web.get(f"/admin/users/{target.id}")
    clock.advance(timedelta(minutes=16))
    response = await admin.web.submit(f"/admin/users/{target.id}/lock", {"reason": "suspicious activity"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sudo")
    await db.refresh(target)
    assert target.sign_in_locked_at is None


async def test_lock_stops_sign_in_and_is_audited_with_the_admin_as_actor(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    victim_browser = admin.web.other_browser()
    await accounts.login(victim_browser, "ada@example.com")
    await admin.web.get(f"/admin/users/{target.id}")
    response = await admin.web.submit(f"/admin/users/{target.id}/lock", {"reason": "suspicious activity"})
    assert response.status_code == 303
    assert (
        await victim_browser.get("/settings/profile", follow_redirects=False)
    ).status_code == 303  # thrown out
    await victim_browser.get("/login")
    refused = await victim_browser.submit(
        "/login", {"email": "ada@example.com", "password": "correct horse battery staple"}
    )
    assert refused.status_code != 303
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.user.locked"))
    assert event is not None
    assert (event.actor_id, event.target_id, event.details["reason"]) == (
        admin.user.id,
        str(target.id),
        "suspicious activity",
    )
    await admin.web.submit(f"/admin/users/{target.id}/unlock")
    await victim_browser.get("/login")
    assert (
        await victim_browser.submit(
            "/login", {"email": "ada@example.com", "password": "correct horse battery staple"}
        )
    ).status_code == 303


async def test_a_destructive_action_needs_a_reason(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    await admin.web.get(f"/admin/users/{target.id}")
    await admin.web.submit(f"/admin/users/{target.id}/disable", {"reason": ""})
    await db.refresh(target)
    assert target.is_active


async def test_disable_ends_sessions_and_refuses_sign_in(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    victim_browser = admin.web.other_browser()
    await accounts.login(victim_browser, "ada@example.com", remember="on")
    await admin.web.get(f"/admin/users/{target.id}")
    await admin.web.submit(f"/admin/users/{target.id}/disable", {"reason": "abuse report 42"})
    await db.refresh(target)
    assert not target.is_active
    assert (await victim_browser.get("/settings/profile", follow_redirects=False)).status_code == 303


async def test_the_console_cannot_act_on_another_admin(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    other = await accounts.create("ivy@example.com")
    await grant_admin(db, other.id, can_impersonate=False)
    await db.commit()
    await admin.web.get(f"/admin/users/{other.id}")
    await admin.web.submit(f"/admin/users/{other.id}/lock", {"reason": "testing the rule"})
    await db.refresh(other)
    assert other.sign_in_locked_at is None


async def test_no_admin_route_sets_a_password_for_another_user(
    admin: Admin, accounts: Accounts, app: Litestar, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    before = target.password_hash
    await admin.web.get(f"/admin/users/{target.id}")
    fields = {
        "password": "a brand new password 1",
        "new_password": "a brand new password 1",
        "reason": "x" * 20,
    }
    for method, path in admin_routes(app):
        if method == "POST" and "/users/" in path:
            await admin.web.submit(
                path.replace("00000000-0000-0000-0000-000000000000", str(target.id), 1), fields
            )
    await db.refresh(target)
    assert target.password_hash == before
    pages = [await admin.web.get(path) for path in ("/admin/users", f"/admin/users/{target.id}")]
    assert all('type="password"' not in page.text for page in pages)


async def test_the_console_asks_for_credentials_again_after_an_hour(admin: Admin, clock: FrozenClock) -> None:
    for _ in range(2):  # busy the whole time: this is not the idle timeout
        clock.advance(timedelta(minutes=25))
        assert (await admin.web.get("/admin/users", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(minutes=11))
    response = await admin.web.get("/admin/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sudo?next=/admin/users")
    assert (await admin.web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def test_an_administrator_gets_no_sign_in_link_by_mail(
    accounts: Accounts, web: WebClient, db: AsyncSession, mailbox: Mailbox
) -> None:
    from tests.auth.test_magic_link import ask, shape, sign_in_mail

    admin_user = await accounts.create("gus@example.com")
    await grant_admin(db, admin_user.id, can_impersonate=False)
    await db.commit()
    await accounts.create("ada@example.com")
    refused = await ask(web, "gus@example.com")
    await ask(web.other_browser(), "ada@example.com")  # a known mail to wait for
    await sign_in_mail(mailbox, "ada@example.com")
    assert await mailbox.messages("gus@example.com") == []
    assert shape(refused) == (303, "/login/email/check-inbox", ["magic"])


async def test_every_admin_write_without_fresh_sudo_goes_to_sudo(
    app: Litestar, admin: Admin, clock: FrozenClock
) -> None:
    await admin.web.get("/admin/")
    clock.advance(timedelta(minutes=16))
    writes = [path for method, path in admin_routes(app) if method == "POST"]
    # --- feature: orgs
    assert "/admin/orgs/00000000-0000-0000-0000-000000000000/delete" in writes
    # --- end feature: orgs
    for path in writes:
        if path == "/admin/impersonation/stop":  # ends an impersonation: never held back
            continue
        response = await admin.web.submit(path, {"reason": "x" * 20})
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/sudo"), path
