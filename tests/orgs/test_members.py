"""The members page through real HTTP: roles, removal, leaving, ownership; refusals say why [71][73]."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, Membership
from tests.orgs.conftest import ADMIN_ROLE_ID, MEMBER_ROLE_ID, OWNER_ROLE_ID, Acme, Orgs
from tests.support.accounts import Accounts, sudo
from tests.support.mail import Mailbox
from tests.support.web import WebClient


async def test_everyone_sees_the_members_but_only_managers_see_two_step_status(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    await accounts.login(web, "mia@example.com")
    page = await web.get("/o/acme/members")
    assert page.status_code == 200
    for email in ("olive@example.com", "adam@example.com", "mia@example.com"):
        assert email in page.text
    assert "No two-step" not in page.text
    assert "/role" not in page.text
    assert "Send invitation" not in page.text
    admin = web.other_browser()
    await accounts.login(admin, "adam@example.com")
    managed = await admin.get("/o/acme/members")
    assert "No two-step" in managed.text
    assert "Send invitation" in managed.text


async def test_an_admin_changes_a_members_role_and_it_is_audited(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    mia = await orgs.membership(acme.org, acme.member)
    assert mia is not None
    await web.get("/o/acme/members")
    response = await web.submit(f"/o/acme/members/{mia.id}/role", {"role_id": str(ADMIN_ROLE_ID)})
    assert response.status_code == 303
    assert (await orgs.membership(acme.org, acme.member)).role_id == ADMIN_ROLE_ID  # type: ignore[union-attr]
    action = await db.scalar(select(AuditEvent.action).where(AuditEvent.org_id == acme.org.id))
    assert action == "org.member.role_changed"


async def test_an_admin_cannot_make_an_owner_and_sees_why(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    await accounts.login(web, "adam@example.com")
    mia = await orgs.membership(acme.org, acme.member)
    adam = await orgs.membership(acme.org, acme.admin)
    assert mia is not None
    assert adam is not None
    await web.get("/o/acme/members")
    for target in (mia.id, adam.id):
        refused = await web.submit(f"/o/acme/members/{target}/role", {"role_id": str(OWNER_ROLE_ID)})
        assert refused.status_code == 403
        assert "role" in refused.text.lower()
    assert (await orgs.membership(acme.org, acme.member)).role_id == MEMBER_ROLE_ID  # type: ignore[union-attr]
    htmx = await web.submit(f"/o/acme/members/{mia.id}/role", {"role_id": str(OWNER_ROLE_ID)}, htmx=True)
    assert htmx.status_code == 403
    assert htmx.headers["hx-retarget"] == "#flash"
    assert 'role="alert"' in htmx.text


async def test_a_member_cannot_reach_the_admin_actions_at_all(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    await accounts.login(web, "mia@example.com")
    adam = await orgs.membership(acme.org, acme.admin)
    assert adam is not None
    await web.get("/o/acme/members")
    assert (
        await web.submit(f"/o/acme/members/{adam.id}/role", {"role_id": str(MEMBER_ROLE_ID)})
    ).status_code == 403
    assert (await web.submit(f"/o/acme/members/{adam.id}/remove")).status_code == 403
    assert (await web.submit("/o/acme/invitations", {"email": "x@example.com"})).status_code == 403
    assert (await web.get("/o/acme/settings")).status_code == 403
    assert (await orgs.membership(acme.org, acme.admin)).role_id == ADMIN_ROLE_ID  # type: ignore[union-attr]


async def test_the_only_owner_cannot_leave_and_is_told_what_to_do(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    await accounts.login(web, "olive@example.com")
    await web.get("/o/acme/members")
    refused = await web.submit("/o/acme/members/leave")
    assert refused.status_code == 409
    assert "only owner" in refused.text
    assert await orgs.membership(acme.org, acme.owner) is not None


async def test_a_demoted_admin_loses_admin_actions_on_their_very_next_request(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    admin = web.other_browser()
    await accounts.login(admin, "adam@example.com")
    assert (await admin.get("/o/acme/settings")).status_code == 200
    await accounts.login(web, "olive@example.com")
    adam = await orgs.membership(acme.org, acme.admin)
    assert adam is not None
    await web.get("/o/acme/members")
    await web.submit(f"/o/acme/members/{adam.id}/role", {"role_id": str(MEMBER_ROLE_ID)})
    assert (await admin.get("/o/acme/settings")).status_code == 403


async def test_a_removed_member_is_refused_on_their_next_request_and_their_invitations_die(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    admin = web.other_browser()
    await accounts.login(admin, "adam@example.com")
    await admin.get("/o/acme/members")
    assert (
        await admin.submit(
            "/o/acme/invitations", {"email": "new@example.com", "role_id": str(MEMBER_ROLE_ID)}
        )
    ).status_code == 303
    await accounts.login(web, "olive@example.com")
    adam = await orgs.membership(acme.org, acme.admin)
    assert adam is not None
    await web.get("/o/acme/members")
    assert (await web.submit(f"/o/acme/members/{adam.id}/remove")).status_code == 303
    assert (await admin.get("/o/acme/")).status_code == 404
    assert (await admin.get("/o/acme/members", htmx=True)).status_code == 404
    page = await web.get("/o/acme/members")
    assert "new@example.com" not in page.text


async def test_a_member_leaves_and_lands_elsewhere(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    await accounts.login(web, "mia@example.com")
    await web.get("/o/acme/members")
    response = await web.submit("/o/acme/members/leave")
    assert response.headers["location"] == "/dashboard"
    assert await orgs.membership(acme.org, acme.member) is None
    assert (await web.get("/dashboard", follow_redirects=False)).headers["location"] == "/orgs/new"


async def test_ownership_is_offered_behind_sudo_and_taken_by_accepting_the_mail(
    accounts: Accounts,
    web: WebClient,
    acme: Acme,
    orgs: Orgs,
    mailbox: Mailbox,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    await accounts.login(web, "olive@example.com")
    adam = await orgs.membership(acme.org, acme.admin)
    assert adam is not None
    clock.advance(timedelta(minutes=20))  # past the sudo window of the sign-in
    await web.get("/o/acme/members")
    asked = await web.submit(f"/o/acme/members/{adam.id}/transfer")
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/sudo")
    await sudo(web, "/o/acme/members")
    await web.submit(f"/o/acme/members/{adam.id}/transfer")
    [mail] = await mailbox.wait_for("adam@example.com", subject="Invitation to join Acme on Gatehouse")
    link = next(word for word in mail.text_body.split() if "/invitations/accept?token=" in word)
    new_owner = web.other_browser()
    await accounts.login(new_owner, "adam@example.com")
    await new_owner.get(link.removeprefix("http://testserver.local"))
    assert (await new_owner.submit("/invitations/accept")).status_code == 303
    assert (await orgs.membership(acme.org, acme.admin)).role_id == OWNER_ROLE_ID  # type: ignore[union-attr]
    owners = await db.scalar(
        select(func.count()).where(Membership.org_id == acme.org.id, Membership.role_id == OWNER_ROLE_ID)
    )
    assert owners == 2
