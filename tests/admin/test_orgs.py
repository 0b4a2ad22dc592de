"""Organizations in the console: search, detail, suspension, deletion and restoring, ownership transfer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, Membership, Organization
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, OWNER_ROLE_ID, create_org
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox


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


async def test_deleting_closes_it_lists_it_as_deleted_and_restoring_opens_it(
    admin: Admin, accounts: Accounts, db: AsyncSession, clock: FrozenClock
) -> None:
    org = await acme(accounts, db)
    member = admin.web.other_browser()
    await accounts.login(member, "olive@example.com")
    await admin.web.get(f"/admin/orgs/{org.id}")
    await admin.web.submit(f"/admin/orgs/{org.id}/delete", {"reason": " "})
    await db.refresh(org)
    assert org.deleted_at is None  # no reason, no deletion
    await admin.web.submit(f"/admin/orgs/{org.id}/delete", {"reason": "Owner asked by ticket 4411"})
    assert (await member.get("/o/acme/projects", follow_redirects=False)).status_code == 404
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.org.deleted"))
    assert event is not None
    assert (event.actor_id, event.org_id, event.details["reason"]) == (
        admin.user.id,
        org.id,
        "Owner asked by ticket 4411",
    )
    page = await admin.web.get(f"/admin/orgs/{org.id}")
    purge_on = clock.now() + timedelta(days=14)
    assert f"<strong>{purge_on:%d %b %Y}</strong> unless restored" in page.text
    deleted = await admin.web.get("/admin/orgs?state=deleted")
    assert "Acme Corporation" in deleted.text
    assert "Globex" not in deleted.text
    await admin.web.submit(f"/admin/orgs/{org.id}/restore")
    assert (await member.get("/o/acme/projects", follow_redirects=False)).status_code == 200
    assert (
        await db.scalar(select(AuditEvent.actor_id).where(AuditEvent.action == "admin.org.restored"))
        == admin.user.id
    )


async def test_transferring_ownership_makes_the_member_the_owner_and_mails_them(
    admin: Admin, accounts: Accounts, db: AsyncSession, mailbox: Mailbox
) -> None:
    org = await acme(accounts, db)
    mia = await accounts.create("mia@example.com")
    chosen = Membership(org_id=org.id, user_id=mia.id, role_id=MEMBER_ROLE_ID)
    db.add(chosen)
    await db.commit()
    await admin.web.get(f"/admin/orgs/{org.id}")
    response = await admin.web.submit(
        f"/admin/orgs/{org.id}/transfer", {"membership_id": str(chosen.id), "reason": "Olive left; CEO asked"}
    )
    assert response.status_code == 303
    members = select(Membership.user_id, Membership.role_id).where(Membership.org_id == org.id)
    roles = dict((await db.execute(members)).all())
    assert roles[mia.id] == OWNER_ROLE_ID
    assert set(roles.values()) == {OWNER_ROLE_ID, ADMIN_ROLE_ID}  # olive is an admin now
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.org.ownership_transferred"))
    assert event is not None
    assert (event.actor_id, event.target_id, event.details["reason"]) == (
        admin.user.id,
        str(mia.id),
        "Olive left; CEO asked",
    )
    [mail] = await mailbox.wait_for("mia@example.com", subject="You now own Acme Corporation on Gatehouse")
    assert "/o/acme/members" in mail.text_body
