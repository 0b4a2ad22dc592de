"""Organization settings and custom roles through real HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import Membership, Organization, OrgRole
from tests.orgs.conftest import Acme, Orgs
from tests.support.accounts import Accounts, sudo
from tests.support.web import WebClient


async def test_renaming_and_moving_the_organization_keeps_old_links_working_for_members(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    await web.get("/o/acme/settings")
    assert (await web.submit("/o/acme/settings/name", {"name": "  Acme   Labs "})).status_code == 303
    moved = await web.submit("/o/acme/settings/slug", {"slug": "acme-labs"})
    assert moved.headers["location"] == "/o/acme-labs/settings"
    page = await web.get("/o/acme-labs/settings")
    assert "now lives at /o/acme-labs/" in page.text
    assert 'value="Acme Labs"' in page.text
    old = await web.get("/o/acme/members", follow_redirects=False)
    assert (old.status_code, old.headers["location"]) == (302, "/o/acme-labs/members")
    taken = await web.submit("/o/acme-labs/settings/slug", {"slug": "new"})
    assert taken.status_code == 422
    assert "reserved" in taken.text


async def test_deleting_needs_the_owner_sudo_and_the_typed_slug(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = web.other_browser()
    await accounts.login(admin, "adam@example.com")
    await admin.get("/o/acme/settings")
    assert (await admin.submit("/o/acme/settings/delete", {"confirm": "acme"})).status_code == 403
    await accounts.login(web, "olive@example.com")
    clock.advance(timedelta(minutes=20))
    await web.get("/o/acme/settings")
    asked = await web.submit("/o/acme/settings/delete", {"confirm": "acme"})
    assert asked.headers["location"].startswith("/sudo")
    await sudo(web, "/o/acme/settings")
    await web.get("/o/acme/settings")
    wrong = await web.submit("/o/acme/settings/delete", {"confirm": "acm"})
    assert wrong.status_code == 422
    assert await db.scalar(select(func.count()).select_from(Organization)) == 1
    done = await web.submit("/o/acme/settings/delete", {"confirm": "acme"})
    assert done.headers["location"] == "/dashboard"
    assert "contact support to restore it" in (await web.get("/dashboard")).text
    # Deleted softly: closed to every member at once, purged after the grace (tests/orgs/test_deletion.py).
    await db.refresh(acme.org)
    assert acme.org.deleted_at == clock.now()
    assert await db.scalar(select(func.count()).select_from(Membership)) == 3
    assert (await admin.get("/o/acme/")).status_code == 404
    assert (await web.get("/o/acme/settings")).status_code == 404


async def test_a_custom_role_is_built_from_permissions_one_holds(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    page = await web.get("/o/acme/roles")
    assert page.status_code == 200
    assert 'value="billing:manage"' not in page.text  # admins do not hold it
    created = await web.submit(
        "/o/acme/roles", {"name": "Reviewer", "permissions": ["audit:read", "projects:write"]}
    )
    assert created.status_code == 303
    role = await db.scalar(select(OrgRole).where(OrgRole.org_id == acme.org.id))
    assert role is not None
    assert sorted(role.permissions) == ["audit:read", "projects:write"]
    refused = await web.submit("/o/acme/roles", {"name": "Payer", "permissions": ["billing:manage"]})
    assert refused.status_code == 403
    assert "do not hold" in refused.text
    mia = await orgs.membership(acme.org, acme.member)
    assert mia is not None
    await web.get("/o/acme/members")
    assert (await web.submit(f"/o/acme/members/{mia.id}/role", {"role_id": str(role.id)})).status_code == 303
    member = web.other_browser()
    await accounts.login(member, "mia@example.com")
    assert 'href="/o/acme/audit"' in (await member.get("/o/acme/")).text
    assert (await member.get("/o/acme/roles")).status_code == 403
