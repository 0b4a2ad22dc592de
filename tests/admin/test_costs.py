"""Each admin list page costs a fixed number of statements, however many rows it shows (no N+1)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import ApiToken, Membership
from app.auth.core.orgs import MEMBER_ROLE_ID, create_org
from tests.admin.conftest import Admin
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts


async def grow(accounts: Accounts, db: AsyncSession, start: int, count: int) -> None:
    for n in range(start, start + count):
        user = await accounts.create(f"user{n}@example.com")
        await accounts.enrol_totp(user)
        await create_org(db, owner_id=user.id, name=f"Org {n}", slug=f"org-{n}")
        await db.commit()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # resume, guard, the page's one query
        ("/admin/users", 3),
        ("/admin/users?q=user&filter=two_factor&sort=email", 3),
        # --- feature: orgs
        ("/admin/orgs", 3),
        # --- end feature: orgs
        # resume, guard, the outbox backlog (the queue counts go to the queue, not counted here when Redis)
        ("/admin/jobs", None),
        # resume, guard, the daily counts, the totals (+ queue count)
        ("/admin/", None),
    ],
)
async def test_a_list_page_costs_the_same_with_one_row_or_many(
    admin: Admin, accounts: Accounts, db: AsyncSession, app: Litestar, path: str, expected: int | None
) -> None:
    await grow(accounts, db, 0, 1)
    status, few = await cost_of(app, admin.web, path)
    assert status == 200
    await grow(accounts, db, 1, 12)
    status, many = await cost_of(app, admin.web, path)
    assert status == 200
    assert len(many.statements) == len(few.statements), many.statements
    if expected is not None:
        assert len(many.statements) == expected, many.statements


async def test_a_users_page_costs_the_same_however_many_sessions_tokens_and_events_it_has(
    admin: Admin, accounts: Accounts, app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    user = await accounts.create("ada@example.com")
    path = f"/admin/users/{user.id}"
    status, few = await cost_of(app, admin.web, path)
    assert status == 200
    for n in range(5):
        await accounts.login(admin.web.other_browser(), "ada@example.com")
        db.add(ApiToken(token_hash=secrets.token_bytes(32), public_id=secrets.token_hex(4), name=f"Script {n}",
                        user_id=user.id, created_by=user.id, expires_at=clock.now() + timedelta(days=9)))  # fmt: skip
    await db.commit()
    status, many = await cost_of(app, admin.web, path)
    assert status == 200
    assert len(many.statements) == len(few.statements), many.statements


# --- feature: orgs
@pytest.mark.needs_features("orgs")
async def test_an_org_page_costs_the_same_however_many_members_and_tokens_it_has(
    admin: Admin, accounts: Accounts, db: AsyncSession, app: Litestar, clock: FrozenClock
) -> None:
    owner = await accounts.create("olive@example.com")
    org = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    await db.commit()
    path = f"/admin/orgs/{org.id}"
    status, few = await cost_of(app, admin.web, path)
    assert status == 200
    for n in range(5):
        user = await accounts.create(f"member{n}@example.com")
        db.add(Membership(org_id=org.id, user_id=user.id, role_id=MEMBER_ROLE_ID))
        db.add(ApiToken(token_hash=secrets.token_bytes(32), public_id=secrets.token_hex(4), name=f"Bot {n}",
                        org_id=org.id, created_by=user.id, expires_at=clock.now() + timedelta(days=9)))  # fmt: skip
    await db.commit()
    status, many = await cost_of(app, admin.web, path)
    assert status == 200
    assert len(many.statements) == len(few.statements), many.statements
    assert "Bot 4" in (await admin.web.get(path)).text


# --- end feature: orgs
