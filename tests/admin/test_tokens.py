"""API tokens in the console: listed on the user's and the organization's page, revoked with a reason."""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import ApiToken, AuditEvent
from app.auth.core.orgs import create_org
from app.auth.models import User
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts

pytestmark = pytest.mark.needs_features("api")


async def token(
    db: AsyncSession, clock: FrozenClock, name: str, owner: User, *, org_id: UUID | None = None
) -> ApiToken:
    """A live token named `name`: `owner`'s personal one, or with `org_id` an org token `owner` made."""
    row = ApiToken(
        token_hash=secrets.token_bytes(32), public_id=secrets.token_hex(4), name=name,
        user_id=None if org_id else owner.id, org_id=org_id, created_by=owner.id,
        scopes=["projects:write"], expires_at=clock.now() + timedelta(days=90),
    )  # fmt: skip
    db.add(row)
    await db.commit()
    return row


async def test_the_user_page_lists_personal_and_org_tokens_and_revokes_one_with_a_reason(
    admin: Admin, accounts: Accounts, db: AsyncSession, clock: FrozenClock
) -> None:
    ada = await accounts.create("ada@example.com")
    org = await create_org(db, owner_id=ada.id, name="Acme", slug="acme")
    await db.commit()
    laptop = await token(db, clock, "Laptop script", ada)
    ci = await token(db, clock, "Acme CI", ada, org_id=org.id)
    page = await admin.web.get(f"/admin/users/{ada.id}")
    assert "Laptop script" in page.text
    assert f"gth_{laptop.public_id}" in page.text
    assert "Acme CI" in page.text
    assert "projects:write" in page.text
    refused = await admin.web.submit(f"/admin/users/{ada.id}/tokens/{laptop.id}/revoke", {"reason": ""})
    assert refused.status_code == 303
    await db.refresh(laptop)
    assert laptop.revoked_at is None
    await admin.web.submit(f"/admin/users/{ada.id}/tokens/{laptop.id}/revoke", {"reason": "Leaked in a gist"})
    await db.refresh(laptop)
    assert laptop.revoked_at == clock.now()
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "api_token.revoked"))
    assert event is not None
    assert (event.actor_id, event.target_id, event.details["reason"]) == (
        admin.user.id,
        str(laptop.id),
        "Leaked in a gist",
    )
    back = await admin.web.submit(
        f"/admin/orgs/{org.id}/tokens/{ci.id}/revoke",
        {"reason": "Rotating", "back": f"/admin/users/{ada.id}"},
    )
    assert back.headers["location"] == f"/admin/users/{ada.id}"
    await db.refresh(ci)
    assert ci.revoked_at is not None


async def test_a_token_is_revoked_only_through_its_own_owner(
    admin: Admin, accounts: Accounts, db: AsyncSession, clock: FrozenClock
) -> None:
    ada = await accounts.create("ada@example.com")
    bob = await accounts.create("bob@example.com")
    ours = await token(db, clock, "Bob's", bob)
    await admin.web.get(f"/admin/users/{ada.id}")
    await admin.web.submit(f"/admin/users/{ada.id}/tokens/{ours.id}/revoke", {"reason": "wrong owner"})
    org = await create_org(db, owner_id=ada.id, name="Acme", slug="acme")
    await db.commit()
    await admin.web.submit(f"/admin/orgs/{org.id}/tokens/{ours.id}/revoke", {"reason": "wrong owner"})
    await db.refresh(ours)
    assert ours.revoked_at is None


async def test_the_org_page_lists_its_tokens(
    admin: Admin, accounts: Accounts, db: AsyncSession, clock: FrozenClock
) -> None:
    ada = await accounts.create("ada@example.com")
    org = await create_org(db, owner_id=ada.id, name="Acme", slug="acme")
    await db.commit()
    ci = await token(db, clock, "Deploy bot", ada, org_id=org.id)
    page = await admin.web.get(f"/admin/orgs/{org.id}")
    assert "Deploy bot" in page.text
    assert f'action="/admin/orgs/{org.id}/tokens/{ci.id}/revoke"' in page.text
