"""Every route under `/o/{org_slug}/`, read from the app's route table, refuses people outside the organization [68][69].

New org routes are covered the moment they are registered: a signed-in person who is not a member
gets 404 (the organization looks like it does not exist) on every method, with and without htmx,
and a visitor who is not signed in is sent to sign in. Object ids in the path are the
organization's real ones, so a route that looked the object up before checking membership would
show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.orgs import create_org
from app.projects.models import Project
from tests.support.accounts import Accounts
from tests.support.web import WebClient

ORG_PREFIX = "/o/{org_slug:str}"
_PARAM = re.compile(r"\{(\w+):(\w+)\}")
SECRET = "Globex secret plan"


def org_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, path template) of every org-scoped route."""
    for route in app.routes:
        if route.path.startswith(ORG_PREFIX):
            for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
                yield method, route.path


def concrete(template: str, slug: str, object_id: UUID) -> str:
    """The template with the slug, the object id for every uuid, and placeholders for the rest."""

    def value(match: re.Match[str]) -> str:
        name, kind = match.groups()
        if name == "org_slug":
            return slug
        return {"uuid": str(object_id), "int": "1"}.get(kind, "x")

    return _PARAM.sub(value, template)


@pytest.fixture
async def globex(accounts: Accounts, db: AsyncSession) -> UUID:
    """Globex, with a project, owned by someone else; returns the project's id."""
    owner = await accounts.create("gus@example.com")
    org = await create_org(db, owner_id=owner.id, name="Globex", slug="globex")
    project = Project(org_id=org.id, name=SECRET, created_by=owner.id)
    db.add(project)
    await db.commit()
    return project.id


def test_the_walk_covers_the_org_routes(app: Litestar) -> None:
    routes = set(org_routes(app))
    assert ("POST", "/o/{org_slug:str}/projects/{project_id:uuid}/archive") in routes
    assert ("POST", "/o/{org_slug:str}/audit/export") in routes


@pytest.mark.parametrize("htmx", [False, True])
async def test_a_non_member_gets_404_from_every_org_route(
    app: Litestar, globex: UUID, accounts: Accounts, web: WebClient, db: AsyncSession, htmx: bool
) -> None:
    outsider = await accounts.create("olive@example.com")
    await create_org(db, owner_id=outsider.id, name="Acme", slug="acme")  # an owner, but of another org
    await db.commit()
    await accounts.login(web, outsider.email)
    await web.get("/")
    for method, template in org_routes(app):
        path = concrete(template, "globex", globex)
        if method == "GET":
            response = await web.get(path, htmx=htmx, follow_redirects=False)
        else:
            response = await web.submit(path, {"name": "x"}, htmx=htmx)
        assert response.status_code == 404, (method, path, response.status_code)
        assert SECRET not in response.text, (method, path)


async def test_a_visitor_is_sent_to_sign_in_from_every_org_route(
    app: Litestar, globex: UUID, web: WebClient
) -> None:
    await web.get("/")
    for method, template in org_routes(app):
        path = concrete(template, "globex", globex)
        if method == "GET":
            response = await web.get(path, follow_redirects=False)
        else:
            response = await web.submit(path, {"name": "x"})
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"].startswith("/login?next="), (method, path)
        assert SECRET not in response.text
