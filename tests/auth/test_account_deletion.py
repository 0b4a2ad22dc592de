"""Deleting an account: everything ends at once [23], the grace period, the restore, the purge."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.account_deletion import purge_due_accounts
from app.auth.core.audit_log import verify_audit_chain
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, Membership, Organization
from app.auth.core.orgs import MEMBER_ROLE_ID, OWNER_ROLE_ID, create_org
from app.auth.models import AuthSession, User

# --- feature: orgs
from app.orgs.tasks import purge_orgs
from app.projects.models import Project

# --- end feature: orgs
from tests.auth.test_password_reset import LINK as RESET_LINK
from tests.auth.test_password_reset import use
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

CANCEL_LINK = re.compile(r"http://[^\s\"]+(/account/deletion/cancel\?token=[A-Za-z0-9_\-]+)")


async def delete_account(web: WebClient, email: str = "ada@example.com", **choices: str) -> int:
    """Delete the signed-in account through the settings page (sign-in left a fresh sudo window)."""
    await web.get("/settings/account")
    response = await web.submit("/settings/account/delete", {"confirm_email": email, **choices})
    return response.status_code


async def test_deletion_ends_the_sessions_and_an_unused_reset_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    other = web.other_browser()
    await accounts.login(other, "ada@example.com", remember="on")
    stranger = web.other_browser()
    await stranger.get("/forgot-password")
    await stranger.submit("/forgot-password", {"email": "ada@example.com"})
    reset = await mailbox.wait_for("ada@example.com", subject="Reset your Gatehouse password")
    found = RESET_LINK.search(reset[-1].text_body)
    assert found is not None
    link = found.group(1)

    assert await delete_account(web) == 303

    assert (await other.get("/settings/profile", follow_redirects=False)).status_code == 303
    before = user.password_hash
    await use(stranger, link)
    await db.refresh(user)
    assert user.password_hash == before
    assert user.purge_after is not None
    assert not user.can_sign_in
    assert await db.scalar(select(func.count()).where(AuthSession.user_id == user.id)) == 0
    mail = (await mailbox.wait_for("ada@example.com", subject="Your Gatehouse account is deleted"))[-1]
    assert CANCEL_LINK.search(mail.text_body)


async def test_the_address_must_be_typed_to_confirm(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    assert await delete_account(web, "someone@example.com") == 422
    await db.refresh(user)
    assert user.purge_after is None


async def test_signing_in_offers_the_restore_only_after_the_second_factor(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create("ada@example.com")
    secret = await accounts.enrol_totp(user)
    await accounts.login(web, "ada@example.com")
    await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})
    assert await delete_account(web) == 303

    browser = web.other_browser()
    answer = await accounts.login(browser, "ada@example.com")
    assert answer.headers["location"] == "/login/two-factor"
    assert (await browser.get("/login/restore", follow_redirects=False)).headers["location"] == "/login"
    assert (await browser.submit("/login/restore")).headers["location"] == "/login"
    coded = await browser.submit("/login/two-factor", {"code": accounts.totp_code(secret, steps=1)})
    assert coded.headers["location"] == "/login/restore"
    assert (
        await browser.get("/settings/profile", follow_redirects=False)
    ).status_code == 303  # no session yet
    offer = await browser.get("/login/restore")
    assert "Restore my account" in offer.text
    restored = await browser.submit("/login/restore")
    assert restored.status_code == 303
    assert (await browser.get("/settings/profile")).status_code == 200
    await db.refresh(user)
    assert user.purge_after is None
    assert user.can_sign_in
    await mailbox.wait_for("ada@example.com", subject="Your Gatehouse account is restored")


async def test_a_wrong_password_on_a_deleted_account_is_the_generic_failure(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    await delete_account(web)
    browser = web.other_browser()
    await browser.get("/login")
    answer = await browser.submit(
        "/login", {"email": "ada@example.com", "password": "not the password at all"}
    )
    assert answer.status_code == 422
    assert "do not match an account" in answer.text


async def test_the_cancel_link_is_single_use_and_signs_nobody_in(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    await delete_account(web)
    mail = (await mailbox.wait_for("ada@example.com", subject="Your Gatehouse account is deleted"))[-1]
    match = CANCEL_LINK.search(mail.text_body)
    assert match is not None
    browser = web.other_browser()
    page = await browser.get(match.group(1))
    assert "Sign in to keep my account" in page.text
    token = match.group(1).split("token=")[1]
    spent = await browser.submit("/account/deletion/cancel", {"token": token})
    assert spent.headers["location"] == "/login"
    assert (await browser.get("/settings/profile", follow_redirects=False)).status_code == 303
    assert "already been used" in (await browser.get(match.group(1))).text


async def test_the_last_owner_chooses_a_new_owner_for_each_shared_organization(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    ada = await accounts.create("ada@example.com")
    mia = await accounts.create("mia@example.com")
    acme = await create_org(db, owner_id=ada.id, name="Acme", slug="acme")
    solo = await create_org(db, owner_id=ada.id, name="Solo", slug="solo")
    db.add(Membership(org_id=acme.id, user_id=mia.id, role_id=MEMBER_ROLE_ID))
    await db.commit()
    await accounts.login(web, "ada@example.com")
    page = await web.get("/settings/account")
    assert "Make mia@example.com the owner" in page.text
    assert "Solo" in page.text
    assert await delete_account(web) == 422
    mias = await db.scalar(select(Membership).where(Membership.user_id == mia.id))
    assert mias is not None
    assert await delete_account(web, **{f"org-{acme.id}": str(mias.id)}) == 303
    await db.refresh(mias)
    assert mias.role_id == OWNER_ROLE_ID
    assert await db.get(Organization, solo.id) is not None  # it goes at the purge, not before


# --- feature: orgs
@pytest.mark.needs_features("orgs")
async def test_the_purge_waits_for_the_grace_period_and_runs_once(
    accounts: Accounts,
    web: WebClient,
    db: AsyncSession,
    app: Litestar,
    clock: FrozenClock,
    engine: AsyncEngine,
) -> None:
    ada = await accounts.create("ada@example.com")
    solo = await create_org(db, owner_id=ada.id, name="Solo", slug="solo")
    project = Project(org_id=solo.id, name="Kept?", created_by=ada.id)
    keeper = await accounts.create("kim@example.com")
    shared = await create_org(db, owner_id=keeper.id, name="Shared", slug="shared")
    db.add(Membership(org_id=shared.id, user_id=ada.id, role_id=MEMBER_ROLE_ID))
    kept = Project(org_id=shared.id, name="Kept", created_by=ada.id)
    db.add_all([project, kept])
    await db.commit()
    ada_id, solo_id, kept_id = ada.id, solo.id, kept.id
    await accounts.login(web, "ada@example.com")
    assert await delete_account(web) == 303
    security = app.state.security

    clock.advance(timedelta(days=14) - timedelta(minutes=1))
    assert await purge_due_accounts(engine, security) == 0
    clock.advance(timedelta(minutes=2))
    assert await purge_due_accounts(engine, security) == 1
    assert await purge_due_accounts(engine, security) == 0

    db.expire_all()
    assert await db.scalar(select(func.count()).where(User.id == ada_id)) == 0
    # The solo organization is deleted as of long ago: the next organization purge takes it.
    assert await db.scalar(select(Organization.deleted_at).where(Organization.id == solo_id)) is not None
    assert await purge_orgs({"engine": engine, "security": security}) == {"purged": 1}
    assert await db.scalar(select(func.count()).where(Organization.id == solo_id)) == 0
    assert await db.scalar(select(func.count()).where(Project.org_id == solo_id)) == 0
    assert await db.scalar(select(Project.created_by).where(Project.id == kept_id)) is None
    purged = await db.scalar(select(AuditEvent).where(AuditEvent.action == "account.purged"))
    assert purged is not None
    assert purged.target_id == str(ada_id)
    assert (await verify_audit_chain(db)).ok


# --- end feature: orgs


async def test_the_account_page_costs_a_fixed_number_of_statements(
    accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    ada = await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    status, few = await cost_of(app, web, "/settings/account")
    for n in range(3):
        member = await accounts.create(f"m{n}@example.com")
        org = await create_org(db, owner_id=ada.id, name=f"Org {n}", slug=f"org-{n}")
        db.add(Membership(org_id=org.id, user_id=member.id, role_id=MEMBER_ROLE_ID))
    await db.commit()
    status, many = await cost_of(app, web, "/settings/account")
    assert status == 200
    assert len(many.statements) == len(few.statements) + 1 <= 5, many.statements


async def test_the_restore_offer_and_the_cancel_link_pages_cost_a_few_statements(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, app: Litestar
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    await delete_account(web)
    mail = (await mailbox.wait_for("ada@example.com", subject="Your Gatehouse account is deleted"))[-1]
    match = CANCEL_LINK.search(mail.text_body)
    assert match is not None
    browser = web.other_browser()
    status, cancel = await cost_of(app, browser, match.group(1))
    assert status == 200
    assert len(cancel.statements) <= 2, cancel.statements
    assert (await accounts.login(browser, "ada@example.com")).headers["location"] == "/login/restore"
    status, offer = await cost_of(app, browser, "/login/restore")
    assert status == 200
    assert len(offer.statements) <= 2, offer.statements
