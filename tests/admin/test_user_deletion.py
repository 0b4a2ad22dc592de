"""The admin console deletes softly (grace period) and restores; only an administrator undoes its own deletion."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Membership
from app.auth.core.orgs import MEMBER_ROLE_ID, create_org
from tests.admin.conftest import Admin
from tests.support.accounts import DEFAULT_PASSWORD, Accounts


async def test_an_administrator_deletes_and_restores_an_account(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    target = await accounts.create("ada@example.com")
    victim = admin.web.other_browser()
    await accounts.login(victim, "ada@example.com")
    page = await admin.web.get(f"/admin/users/{target.id}")
    assert "Delete (soft, with the grace period)" in page.text
    await admin.web.submit(f"/admin/users/{target.id}/delete", {"reason": "support ticket 7"})
    await db.refresh(target)
    assert target.purge_after is not None
    assert target.deletion_requested_by == admin.user.id
    assert (await victim.get("/settings/profile", follow_redirects=False)).status_code == 303

    listed = await admin.web.get("/admin/users?filter=deleted")
    assert "ada@example.com" in listed.text
    assert "gus@example.com" not in listed.text

    # Deleted by an administrator: the right password does not offer the owner a restore.
    browser = admin.web.other_browser()
    await browser.get("/login")
    answer = await browser.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert answer.status_code == 422

    assert "Restore" in (await admin.web.get(f"/admin/users/{target.id}")).text
    await admin.web.submit(f"/admin/users/{target.id}/restore", {"reason": "deleted by mistake"})
    await db.refresh(target)
    assert target.purge_after is None
    assert target.can_sign_in
    await accounts.login(browser, "ada@example.com")


async def test_the_console_will_not_delete_the_last_owner_of_a_shared_organization(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    owner = await accounts.create("olive@example.com")
    member = await accounts.create("mia@example.com")
    acme = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    db.add(Membership(org_id=acme.id, user_id=member.id, role_id=MEMBER_ROLE_ID))
    await db.commit()
    await admin.web.get(f"/admin/users/{owner.id}")
    answer = await admin.web.submit(f"/admin/users/{owner.id}/delete", {"reason": "support ticket 8"})
    assert answer.status_code == 303
    await db.refresh(owner)
    assert owner.purge_after is None
