"""The per-organization security policy, enforced on every org page by the core [68].

Set on the settings page; then: a member without a second factor is sent to set one up and cannot
open any page of the organization; a session begun in a way the organization does not accept, or
older than it allows, is refused with a page that says why.
"""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuthSession, Organization
from tests.orgs.conftest import Acme, Orgs
from tests.orgs.test_tenant_isolation import fill, org_routes
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def set_policy(db: AsyncSession, acme: Acme, **values: object) -> None:
    await db.execute(update(Organization).where(Organization.id == acme.org.id).values(**values))
    await db.commit()


async def test_a_member_without_two_step_is_sent_to_set_it_up_from_every_org_page(
    app: Litestar, accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    await set_policy(db, acme, require_mfa=True)
    await accounts.login(web, "mia@example.com")
    gets = [template for method, template in org_routes(app) if method == "GET"]
    assert gets
    for template in gets:
        path = fill(template, "acme", acme.org.id)
        page = await web.get(path, follow_redirects=False)
        assert (page.status_code, page.headers.get("location")) == (303, "/settings/two-factor"), path
        htmx = await web.get(path, htmx=True, follow_redirects=False)
        assert htmx.headers.get("hx-redirect") == "/settings/two-factor", path
    await web.get("/settings/profile")
    left = await web.submit("/o/acme/members/leave")
    assert left.headers["location"] == "/settings/two-factor"  # sent to set it up; nothing was done
    setup = await web.get("/settings/two-factor")
    assert "Acme requires two-step verification" in setup.text
    assert await orgs.membership(acme.org, acme.member) is not None


async def test_with_a_second_factor_the_same_member_gets_in(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await set_policy(db, acme, require_mfa=True)
    secret = await accounts.enrol_totp(acme.member)
    await accounts.login(web, "mia@example.com")
    await web.get("/login/two-factor")
    await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})
    assert (await web.get("/o/acme/")).status_code == 200


async def test_the_members_page_shows_admins_who_lacks_two_step(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    await accounts.enrol_totp(acme.member)
    await accounts.login(web, "adam@example.com")
    page = await web.get("/o/acme/members")
    assert page.text.count("No two-step") == 2  # olive and adam
    assert page.text.count("Two-step on") == 1  # mia


async def test_a_session_begun_by_a_disallowed_method_is_refused_and_told_why(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await set_policy(db, acme, allowed_sign_in=["passkey"])
    await accounts.login(web, "mia@example.com")
    page = await web.get("/o/acme/members")
    assert page.status_code == 403
    assert "does not accept the way this session signed in" in page.text
    assert 'action="/logout"' in page.text
    fragment = await web.get("/o/acme/members", htmx=True)
    assert fragment.status_code == 403
    assert fragment.headers["hx-retarget"] == "#flash"
    assert "Sign out and sign in again" in fragment.text
    assert "<html" not in fragment.text


async def test_a_session_older_than_the_org_allows_must_sign_in_again(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, clock: FrozenClock
) -> None:
    await set_policy(db, acme, session_max_age=3600)
    await accounts.login(web, "mia@example.com")
    assert (await web.get("/o/acme/")).status_code == 200
    await db.execute(update(AuthSession).values(created_at=clock.now() - timedelta(hours=2)))
    await db.commit()
    page = await web.get("/o/acme/")
    assert page.status_code == 403
    assert "sign in again" in page.text.lower()


async def test_the_settings_page_sets_the_policy_and_refuses_one_that_locks_out_its_author(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await accounts.login(web, "olive@example.com")
    await web.get("/o/acme/settings")
    refused = await web.submit("/o/acme/settings/security", {"require_mfa": "on"})
    assert refused.status_code == 409
    assert "two-step verification on your own account" in refused.text
    saved = await web.submit(
        "/o/acme/settings/security",
        {"limit_sign_in": "on", "allowed_sign_in": ["password", "passkey"], "session_max_age": "3600"},
    )
    assert saved.status_code == 303
    org = await db.get_one(Organization, acme.org.id)
    await db.refresh(org)
    assert (org.require_mfa, sorted(org.allowed_sign_in), org.session_max_age) == (
        False,
        ["passkey", "password"],
        3600,
    )
