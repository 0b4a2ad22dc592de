"""Each admin list page costs a fixed number of statements, however many rows it shows (no N+1)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.orgs import create_org
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


async def test_a_users_page_costs_the_same_however_many_sessions_and_events_it_has(
    admin: Admin, accounts: Accounts, app: Litestar
) -> None:
    user = await accounts.create("ada@example.com")
    path = f"/admin/users/{user.id}"
    status, few = await cost_of(app, admin.web, path)
    assert status == 200
    for _ in range(5):
        await accounts.login(admin.web.other_browser(), "ada@example.com")
    status, many = await cost_of(app, admin.web, path)
    assert status == 200
    assert len(many.statements) == len(few.statements), many.statements
