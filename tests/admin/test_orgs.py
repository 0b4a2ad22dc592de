"""Organizations in the console: search, detail, and suspension closing every page of the org."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import AuditEvent, Organization
from app.auth.core.orgs import create_org
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts


async def acme(accounts: Accounts, db: AsyncSession) -> Organization:
    owner = await accounts.create("olive@example.com")
    org = await create_org(db, owner_id=owner.id, name="Acme Corporation", slug="acme")
    await create_org(db, owner_id=owner.id, name="Globex", slug="globex")
    await db.commit()
    return org


async def test_organizations_are_found_by_name_or_slug(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    await acme(accounts, db)
    page = await admin.web.get("/admin/orgs?q=corp")
    assert "Acme Corporation" in page.text
    assert "Globex" not in page.text
    fragment = await admin.web.get("/admin/orgs?q=glob", htmx=True)
    assert fragment.text.lstrip().startswith('<div id="org-results">')
    assert "Globex" in fragment.text


async def test_the_detail_lists_members_and_their_roles(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    org = await acme(accounts, db)
    page = await admin.web.get(f"/admin/orgs/{org.id}")
    assert "olive@example.com" in page.text
    assert "Owner" in page.text


async def test_suspending_closes_the_organization_until_it_is_reinstated(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    org = await acme(accounts, db)
    member = admin.web.other_browser()
    await accounts.login(member, "olive@example.com")
    assert (await member.get("/o/acme/projects", follow_redirects=False)).status_code == 200
    await admin.web.get(f"/admin/orgs/{org.id}")
    await admin.web.submit(f"/admin/orgs/{org.id}/suspend", {"reason": "Unpaid invoices and abuse report"})
    assert (await member.get("/o/acme/projects", follow_redirects=False)).status_code == 403
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.org.suspended"))
    assert event is not None
    assert (event.actor_id, event.org_id, event.details["reason"]) == (
        admin.user.id, org.id, "Unpaid invoices and abuse report",
    )  # fmt: skip
    await admin.web.submit(f"/admin/orgs/{org.id}/reinstate")
    assert (await member.get("/o/acme/projects", follow_redirects=False)).status_code == 200


async def test_suspending_needs_a_reason(admin: Admin, accounts: Accounts, db: AsyncSession) -> None:
    org = await acme(accounts, db)
    await admin.web.get(f"/admin/orgs/{org.id}")
    await admin.web.submit(f"/admin/orgs/{org.id}/suspend", {"reason": " "})
    await db.refresh(org)
    assert org.suspended_at is None
