"""Tenant isolation, walked over the route table [68][69].

Every route under `/o/{org_slug}` (enumerated from the app, so routes added later are covered
without editing this file) is requested by the owner of organization A:

- with organization B's slug, as a page and as htmx, with B's object ids in every id parameter
  and B's ids in the form: always 404, exactly like an organization that does not exist, and
  nothing of B in the answer;
- with A's own slug but B's object ids: 404 too, because every query is limited to the URL's
  organization.
"""

from __future__ import annotations

import re
from dataclasses import replace
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.invitations import invite
from app.auth.core.models import OrgDomain
from app.auth.core.orgs import MEMBER_ROLE_ID, create_custom_role, rename_slug
from app.models import metadata
from tests.orgs.conftest import Orgs
from tests.orgs.test_org_rules import context_of
from tests.support.accounts import Accounts
from tests.support.web import WebClient

ORG_PREFIX = "/o/{org_slug"
PARAM = re.compile(r"\{([a-z_]+):([a-z]+)\}")
B_MARKERS = ("Initech", "initech", "bill@example.com", "peter@example.com", "initech-token")


def org_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every route under /o/{org_slug}."""
    found = set()
    for route in app.routes:
        if route.path.startswith(ORG_PREFIX):
            for method in getattr(route, "methods", set()) & {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                found.add((method, route.path))
    return sorted(found)


def fill(template: str, slug: str, object_id: UUID) -> str:
    """The template with the slug and `object_id` in every other parameter."""
    path = template.replace("{org_slug:str}", slug)
    return PARAM.sub(lambda m: str(object_id) if m.group(2) == "uuid" else "x", path)


async def ids_of_org(db: AsyncSession, org_id: UUID) -> list[UUID]:
    """The id of every row of every table that belongs to the organization (org_id column)."""
    ids: list[UUID] = []
    for table in metadata.sorted_tables:
        if "org_id" in table.c and "id" in table.c:
            ids += list((await db.scalars(select(table.c.id).where(table.c.org_id == org_id))).all())
    return ids


@pytest.fixture
async def two_orgs(
    accounts: Accounts, orgs: Orgs, db: AsyncSession, app: Litestar
) -> tuple[list[UUID], dict[str, str]]:
    """Acme (owned by ada, who signs in) and Initech with a member, a custom role and an invitation."""
    ada = await accounts.create("ada@example.com")
    await orgs.create(ada, "Acme", "acme")
    bill = await accounts.create("bill@example.com")
    peter = await accounts.create("peter@example.com")
    initech = await orgs.create(bill, "Initech", "initech")
    await orgs.add(initech, peter)
    ctx = await context_of(db, initech.id, bill)
    role = await create_custom_role(db, ctx, "Helper", ["projects:write"])
    await invite(db, app.state.security, ctx, "milton@example.com", MEMBER_ROLE_ID)
    db.add(OrgDomain(org_id=initech.id, domain="initech.io", verification_token="initech-token"))
    await db.commit()
    ids = await ids_of_org(db, initech.id)
    assert len(ids) >= 4  # two memberships, a role, an invitation (and whatever later features add)
    form = {
        "role_id": str(role.id),
        "email": "x@example.com",
        "name": "Hijacked",
        "slug": "hijacked",
        "confirm": "initech",
        "permissions": "projects:write",
        "domain": "initech.io",
        "domain_join": "auto",
    }
    return ids, form


async def test_there_are_org_routes_to_walk(app: Litestar) -> None:
    routes = org_routes(app)
    assert len(routes) >= 12, routes
    assert ("GET", "/o/{org_slug:str}/members") in routes


async def test_another_orgs_slug_is_not_found_on_every_route_even_with_its_own_ids(
    app: Litestar, web: WebClient, accounts: Accounts, two_orgs: tuple[list[UUID], dict[str, str]]
) -> None:
    ids, form = two_orgs
    await accounts.login(web)
    await web.get("/o/acme/members")
    for method, template in org_routes(app):
        for object_id in ids if PARAM.search(template.replace("{org_slug:str}", "")) else ids[:1]:
            path = fill(template, "initech", object_id)
            for htmx in (False, True):
                if method == "GET":
                    response = await web.get(path, htmx=htmx, follow_redirects=False)
                else:
                    response = await web.submit(path, form, htmx=htmx)
                assert response.status_code == 404, (method, path, htmx, response.status_code)
                for marker in B_MARKERS:
                    assert marker not in response.text.replace("/o/initech", ""), (method, path, marker)


async def test_another_orgs_object_ids_are_not_found_under_ones_own_slug(
    app: Litestar,
    web: WebClient,
    accounts: Accounts,
    two_orgs: tuple[list[UUID], dict[str, str]],
    db: AsyncSession,
) -> None:
    ids, form = two_orgs
    await accounts.login(web)  # a fresh password sign-in: sudo-guarded routes run their handler
    await web.get("/o/acme/members")
    walked = 0
    for method, template in org_routes(app):
        if not PARAM.search(template.replace("{org_slug:str}", "")):
            continue
        for object_id in [*ids, uuid4()]:
            path = fill(template, "acme", object_id)
            response = (
                await web.get(path, follow_redirects=False)
                if method == "GET"
                else await web.submit(path, form)
            )
            assert response.status_code == 404, (method, path, response.status_code)
            for marker in B_MARKERS:
                assert marker not in response.text, (method, path, marker)
            walked += 1
    assert walked >= 5 * len(ids)
    # Nothing of Initech changed.
    assert sorted(await ids_of_org(db, (await _org_id(db, "initech")))) == sorted(ids)


async def test_an_old_slug_redirects_only_members(
    app: Litestar,
    web: WebClient,
    accounts: Accounts,
    two_orgs: tuple[list[UUID], dict[str, str]],
    db: AsyncSession,
) -> None:
    from app.auth.models import User

    bill = await db.scalar(select(User).where(User.email == "bill@example.com"))
    assert bill is not None
    ctx = replace(await context_of(db, await _org_id(db, "initech"), bill), slug="initech")
    await rename_slug(db, ctx, "initech-global")
    await db.commit()
    await accounts.login(web)
    assert (await web.get("/o/initech/members", follow_redirects=False)).status_code == 404
    member = web.other_browser()
    await accounts.login(member, "bill@example.com")
    moved = await member.get("/o/initech/members?x=1", follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["location"] == "/o/initech-global/members?x=1"


async def _org_id(db: AsyncSession, slug: str) -> UUID:
    from app.auth.core.models import Organization

    org_id = await db.scalar(select(Organization.id).where(Organization.slug == slug))
    assert org_id is not None
    return org_id
