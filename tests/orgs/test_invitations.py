"""Invitations through real HTTP: sending, the mailed link, joining, and the attacks on it [72]."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import Membership, Organization, OrgInvitation
from tests.auth.test_registration import confirmation, register
from tests.orgs.conftest import ADMIN_ROLE_ID, MEMBER_ROLE_ID, Acme, Orgs
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

SUBJECT = "Invitation to join Acme on Gatehouse"
ACCEPT = re.compile(r"http://testserver\.local(/invitations/accept\?token=[A-Za-z0-9_\-]+)")


async def send_invitation(web: WebClient, email: str, role_id: object = MEMBER_ROLE_ID) -> None:
    await web.get("/o/acme/members")
    response = await web.submit("/o/acme/invitations", {"email": email, "role_id": str(role_id)})
    assert response.status_code == 303, response.text[:400]


async def invitation_link(mailbox: Mailbox, to: str, count: int = 1) -> str:
    message = (await mailbox.wait_for(to, count=count, subject=SUBJECT))[-1]
    found = ACCEPT.search(message.text_body)
    assert found is not None, message.text_body
    return found.group(1)


async def test_a_person_without_an_account_registers_through_the_invitation_and_lands_in_the_org(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    await send_invitation(web, "nina@example.com")
    link = await invitation_link(mailbox, "nina@example.com")
    nina = web.other_browser()
    first_hop = await nina.get(link, follow_redirects=False)
    assert first_hop.status_code == 303
    assert first_hop.headers["location"] == "/invitations/accept"  # the token left the address bar
    assert first_hop.headers["referrer-policy"] == "no-referrer"
    page = await nina.get("/invitations/accept")
    assert page.status_code == 200
    assert "Join <bdi>Acme</bdi>" in page.text
    assert 'href="/register"' in page.text
    form = await nina.get("/register")
    assert "You are joining <strong><bdi>Acme</bdi></strong>" in form.text
    assert 'value="nina@example.com"' in form.text
    await register(nina, "nina@example.com")
    _, code = await confirmation(mailbox, "nina@example.com", count=2)  # after the invitation
    confirmed = await nina.submit("/register/confirm-code", {"code": code})
    assert confirmed.headers["location"] == "/dashboard"
    assert (await nina.get("/dashboard", follow_redirects=False)).headers["location"] == "/invitations/accept"
    await nina.get("/invitations/accept")
    joined = await nina.submit("/invitations/accept")
    assert joined.status_code == 303
    assert joined.headers["location"] == "/o/acme/"
    assert (await nina.get("/o/acme/")).status_code == 200
    # Her own workspace exists too, and landing now remembers Acme.
    assert await db.scalar(select(func.count()).where(Organization.personal.is_(True))) == 1
    assert (await nina.get("/dashboard", follow_redirects=False)).headers["location"] == "/o/acme/"


async def test_an_invitation_works_once(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox
) -> None:
    await accounts.login(web, "adam@example.com")
    await send_invitation(web, "nina@example.com")
    link = await invitation_link(mailbox, "nina@example.com")
    await accounts.create("nina@example.com")
    nina = web.other_browser()
    await accounts.login(nina, "nina@example.com")
    await nina.get(link)
    assert (await nina.submit("/invitations/accept")).status_code == 303
    again = nina.other_browser()
    await accounts.login(again, "nina@example.com")
    page = await again.get(link)
    assert page.status_code == 410
    assert "no longer valid" in page.text
    assert (await again.submit("/invitations/accept")).status_code == 410


async def test_a_forwarded_invitation_is_refused_to_another_account(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    await send_invitation(web, "nina@example.com")
    link = await invitation_link(mailbox, "nina@example.com")
    carol = await accounts.create("carol@example.com")
    browser = web.other_browser()
    await accounts.login(browser, "carol@example.com")
    page = await browser.get(link)
    assert "different address" in page.text
    assert "Join <bdi>Acme</bdi></button>" not in page.text
    refused = await browser.submit("/invitations/accept")
    assert refused.status_code == 403
    assert await db.scalar(select(func.count()).where(Membership.user_id == carol.id)) == 0


async def test_an_expired_invitation_looks_like_an_unknown_one(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox, clock: FrozenClock
) -> None:
    await accounts.login(web, "adam@example.com")
    await send_invitation(web, "nina@example.com")
    link = await invitation_link(mailbox, "nina@example.com")
    unknown = await web.other_browser().get("/invitations/accept?token=" + "A" * 43)
    clock.advance(timedelta(days=7, minutes=1))
    expired = await web.other_browser().get(link)
    assert expired.status_code == unknown.status_code == 410
    body = re.compile(r'value="[0-9a-f]{32,}"|"x-csrftoken": "[0-9a-f]+"|nonce="[^"]+"|\?v=[0-9a-f]+')
    assert body.sub("", expired.text) == body.sub("", unknown.text)


async def test_an_invitation_from_an_admin_demoted_since_cannot_be_accepted(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox, orgs: Orgs, db: AsyncSession
) -> None:
    admin = web.other_browser()
    await accounts.login(admin, "adam@example.com")
    await send_invitation(admin, "nina@example.com", ADMIN_ROLE_ID)
    link = await invitation_link(mailbox, "nina@example.com")
    await accounts.login(web, "olive@example.com")
    adam = await orgs.membership(acme.org, acme.admin)
    assert adam is not None
    await web.get("/o/acme/members")
    await web.submit(f"/o/acme/members/{adam.id}/role", {"role_id": str(MEMBER_ROLE_ID)})
    nina = await accounts.create("nina@example.com")
    browser = web.other_browser()
    await accounts.login(browser, "nina@example.com")
    await browser.get(link)
    refused = await browser.submit("/invitations/accept")
    assert refused.status_code == 409
    assert "can no longer give this role" in refused.text
    assert (
        await db.scalar(
            select(func.count()).where(Membership.user_id == nina.id, Membership.org_id == acme.org.id)
        )
        == 0
    )


async def test_inviting_says_the_same_whether_or_not_the_address_has_an_account(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox
) -> None:
    await accounts.create("known@example.com")
    await accounts.login(web, "adam@example.com")
    answers = []
    for email in ("known@example.com", "unknown@example.com"):
        await web.get("/o/acme/members")
        response = await web.submit("/o/acme/invitations", {"email": email, "role_id": str(MEMBER_ROLE_ID)})
        answers.append((response.status_code, response.headers["location"]))
        page = await web.get("/o/acme/members")
        assert f"Invitation sent to {email}." in page.text
    assert answers[0] == answers[1]
    await mailbox.wait_for("known@example.com", subject=SUBJECT)
    await mailbox.wait_for("unknown@example.com", subject=SUBJECT)


async def test_an_admin_cannot_invite_an_owner_nor_with_another_orgs_role(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    from app.auth.core.orgs import OWNER_ROLE_ID, create_custom_role
    from tests.orgs.test_org_rules import context_of

    stranger = await accounts.create("sam@example.com")
    initech = await orgs.create(stranger, "Initech", "initech")
    foreign = await create_custom_role(
        db, await context_of(db, initech.id, stranger), "Helper", ["projects:write"]
    )
    await db.commit()
    await accounts.login(web, "adam@example.com")
    await web.get("/o/acme/members")
    owner = await web.submit("/o/acme/invitations", {"email": "x@example.com", "role_id": str(OWNER_ROLE_ID)})
    assert owner.status_code == 403
    other = await web.submit("/o/acme/invitations", {"email": "x@example.com", "role_id": str(foreign.id)})
    assert other.status_code == 404
    assert await db.scalar(select(func.count()).select_from(OrgInvitation)) == 0


async def test_another_orgs_invitation_cannot_be_revoked_or_resent_by_its_id(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, mailbox: Mailbox, db: AsyncSession
) -> None:
    stranger = await accounts.create("sam@example.com")
    await orgs.create(stranger, "Initech", "initech")
    theirs = web.other_browser()
    await accounts.login(theirs, "sam@example.com")
    await theirs.get("/o/initech/members")
    await theirs.submit(
        "/o/initech/invitations", {"email": "peter@example.com", "role_id": str(MEMBER_ROLE_ID)}
    )
    invitation = await db.scalar(select(OrgInvitation))
    assert invitation is not None
    await accounts.login(web, "adam@example.com")
    await web.get("/o/acme/members")
    for action in ("revoke", "resend"):
        response = await web.submit(f"/o/acme/invitations/{invitation.id}/{action}")
        assert response.status_code == 404
    await db.refresh(invitation)
    assert invitation.revoked_at is None


async def test_revoking_and_resending_from_the_members_page(
    accounts: Accounts, web: WebClient, acme: Acme, mailbox: Mailbox, db: AsyncSession
) -> None:
    await accounts.login(web, "adam@example.com")
    await send_invitation(web, "nina@example.com")
    first = await invitation_link(mailbox, "nina@example.com")
    pending = await db.scalar(select(OrgInvitation))
    assert pending is not None
    page = await web.get("/o/acme/members")
    assert "nina@example.com" in page.text
    assert (await web.submit(f"/o/acme/invitations/{pending.id}/resend")).status_code == 303
    second = await invitation_link(mailbox, "nina@example.com", count=2)
    assert second != first
    assert (await web.other_browser().get(first)).status_code == 410
    resent = await db.scalar(select(OrgInvitation).where(OrgInvitation.revoked_at.is_(None)))
    assert resent is not None
    assert (await web.submit(f"/o/acme/invitations/{resent.id}/revoke")).status_code == 303
    assert (await web.other_browser().get(second)).status_code == 410
    assert 'id="invitation-list"' not in (await web.get("/o/acme/members")).text
