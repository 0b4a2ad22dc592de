"""Exporting one's data: built by a job, mailed as a single-use 24-hour link, emptied after use."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.data_export import purge_stale_exports
from app.auth.core.models import DataExport, Organization
from app.auth.core.orgs import create_org

# --- feature: orgs
from app.projects.models import Project

# --- end feature: orgs
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

LINK = re.compile(r"http://[^\s\"]+/settings/account/export/download\?token=([A-Za-z0-9_\-]+)")
SUBJECT = "Your Gatehouse data export is ready"


async def export_token(accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession) -> str:
    """ada@example.com, signed in, with a project, asks for an export; the token from the mail."""
    ada = await accounts.create("ada@example.com")
    await create_org(db, owner_id=ada.id, name="Acme", slug="acme")
    # --- feature: orgs
    org_id = await db.scalar(select(Organization.id).where(Organization.slug == "acme"))
    db.add(Project(org_id=org_id, name="Launch", created_by=ada.id))
    # --- end feature: orgs
    await db.commit()
    await accounts.login(web, "ada@example.com")
    await web.get("/settings/account")
    assert (await web.submit("/settings/account/export")).status_code == 303
    match = LINK.search((await mailbox.wait_for("ada@example.com", subject=SUBJECT))[-1].text_body)
    assert match is not None
    return match.group(1)


async def test_the_link_downloads_the_archive_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    token = await export_token(accounts, web, mailbox, db)
    page = await web.get(f"/settings/account/export/download?token={token}")
    assert page.headers["referrer-policy"] == "no-referrer"
    first = await web.submit("/settings/account/export/download", {"token": token})
    assert first.status_code == 200
    assert first.headers["content-disposition"].startswith("attachment")
    archive = json.loads(first.text)
    assert archive["profile"]["email"] == "ada@example.com"
    # --- feature: orgs
    assert [p["name"] for p in archive["projects_created"]] == ["Launch"]
    # --- end feature: orgs
    assert archive["organization_memberships"][0]["slug"] == "acme"
    assert any(e["action"] == "auth.login.succeeded" for e in archive["security_events"])
    assert "password_hash" not in first.text
    assert "token_hash" not in first.text
    second = await web.submit("/settings/account/export/download", {"token": token})
    assert second.status_code == 410
    row = await db.scalar(select(DataExport))
    assert row is not None
    assert row.archive is None
    assert row.downloaded_at is not None


async def test_only_its_owner_signed_in_can_use_the_link(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    token = await export_token(accounts, web, mailbox, db)
    await accounts.create("eve@example.com")
    eve = web.other_browser()
    await accounts.login(eve, "eve@example.com")
    await eve.get(f"/settings/account/export/download?token={token}")
    assert (await eve.submit("/settings/account/export/download", {"token": token})).status_code == 410
    assert (await web.submit("/settings/account/export/download", {"token": token})).status_code == 200


async def test_an_unclaimed_archive_is_removed_when_the_link_expires(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession, clock: FrozenClock
) -> None:
    token = await export_token(accounts, web, mailbox, db)
    clock.advance(timedelta(hours=24, minutes=1))
    await accounts.login(web, "ada@example.com")  # the session did not last that long
    assert (await web.submit("/settings/account/export/download", {"token": token})).status_code == 410
    assert await purge_stale_exports(db, clock.now()) == 1
    await db.commit()
    row = await db.scalar(select(DataExport))
    assert row is not None
    assert row.archive is None
    assert (await web.get("/settings/account")).text.count('action="/settings/account/export"') == 1


async def test_one_export_at_a_time(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await export_token(accounts, web, mailbox, db)
    assert (await web.submit("/settings/account/export")).status_code == 303
    assert len((await db.scalars(select(DataExport))).all()) == 1
    assert [m.subject for m in await mailbox.messages("ada@example.com")].count(SUBJECT) == 1


async def test_the_download_page_costs_nothing_but_the_session(
    accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    status, cost = await cost_of(app, web, "/settings/account/export/download?token=x")
    assert status == 200
    assert len(cost.statements) <= 1, cost.statements
