"""Every org route, for every role, gets exactly the status `authorization_matrix.MATRIX` says [68].

The routes come from the app's route table: an org route missing from the matrix fails
`test_every_org_route_has_a_row`, so nobody adds an endpoint without deciding who may call it.
Each call gets fresh objects (a project made for it), so one role's delete does not change what
the next role finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Membership, OrgRole
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, create_org
from app.auth.models import User
from app.projects.models import Project
from tests.orgs.authorization_matrix import MATRIX, ROLES
from tests.orgs.test_org_route_isolation import concrete, org_routes
from tests.support.accounts import Accounts
from tests.support.web import WebClient

# What a form on any org route may need to succeed (each route reads only its own fields).
FORM = {"name": "Matrix project", "format": "csv"}


@dataclass
class Acme:
    """The organization under test, a signed-in browser per role, and who created its projects."""

    org_id: UUID
    owner: User
    browsers: dict[str, WebClient]
    memberships: dict[str, tuple[UUID, UUID]]
    """role → (user id, role id), to give a membership back after "leave"."""


async def _give_back_membership(db: AsyncSession, acme: Acme, role: str) -> None:
    """After a role walked "leave", put its membership back so the next routes see the same member."""
    if role not in acme.memberships:
        return
    user_id, role_id = acme.memberships[role]
    found = await db.scalar(
        select(Membership.id).where(Membership.org_id == acme.org_id, Membership.user_id == user_id)
    )
    if found is None:
        db.add(Membership(org_id=acme.org_id, user_id=user_id, role_id=role_id))
        await db.commit()


@pytest.fixture
async def acme(accounts: Accounts, db: AsyncSession, web: WebClient) -> Acme:
    people = {role: await accounts.create(f"{role}@example.com") for role in ROLES if role != "anonymous"}
    org = await create_org(db, owner_id=people["owner"].id, name="Acme", slug="acme")
    await create_org(db, owner_id=people["other_owner"].id, name="Globex", slug="globex")
    viewer = OrgRole(org_id=org.id, key="viewer", name="Viewer", permissions=[])
    db.add(viewer)
    await db.flush()
    memberships = {}
    for role, role_id in (("viewer", viewer.id), ("member", MEMBER_ROLE_ID), ("admin", ADMIN_ROLE_ID)):
        db.add(Membership(org_id=org.id, user_id=people[role].id, role_id=role_id))
        memberships[role] = (people[role].id, role_id)
    await db.commit()
    browsers = {"anonymous": web.other_browser()}
    for role, user in people.items():
        browser = web.other_browser()
        await accounts.login(browser, user.email)
        browsers[role] = browser
    for browser in browsers.values():
        await browser.get("/")  # a CSRF token for the forms
    return Acme(org_id=org.id, owner=people["owner"], browsers=browsers, memberships=memberships)


def test_every_org_route_has_a_row(app: Litestar) -> None:
    routes = set(org_routes(app))
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"add these routes to tests/orgs/authorization_matrix.py: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"these matrix rows name no route: {stale}"


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_gets_the_status_the_matrix_says(
    app: Litestar, acme: Acme, db: AsyncSession, role: str
) -> None:
    browser = acme.browsers[role]
    wrong = []
    for method, template in sorted(org_routes(app)):
        project = Project(org_id=acme.org_id, name="Target", created_by=acme.owner.id)
        db.add(project)
        await db.commit()
        path = concrete(template, "acme", project.id)
        if method == "GET":
            response = await browser.get(path, follow_redirects=False)
        else:
            response = await browser.submit(path, FORM)
        expected = MATRIX[(method, template)][role]
        if response.status_code != expected:
            wrong.append(f"{method} {path}: {response.status_code}, expected {expected}")
        await _give_back_membership(db, acme, role)
    assert not wrong, "\n".join(wrong)
