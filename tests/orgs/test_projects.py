"""Projects, the example org-scoped resource: each action, who may do it, and tenant isolation [68]-[70]."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import AuditEvent, Membership, OrgRole
from app.auth.core.orgs import MEMBER_ROLE_ID, create_org
from app.auth.models import User
from app.projects.models import Project
from app.projects.services import PER_PAGE
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.web import WebClient


@dataclass
class World:
    """Two organizations: Acme (an owner, a member, a read-only viewer) and Globex (its own owner)."""

    acme_id: UUID
    globex_id: UUID
    owner: User
    member: User
    viewer: User
    stranger: User
    globex_project: Project


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    owner = await accounts.create("olive@example.com")
    member = await accounts.create("mia@example.com")
    viewer = await accounts.create("vic@example.com")
    stranger = await accounts.create("gus@example.com")
    acme = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    # Built-in members may write projects; a custom role without `projects:write` may only read.
    viewer_role = OrgRole(org_id=acme.id, key="viewer", name="Viewer", permissions=[])
    db.add(viewer_role)
    await db.flush()
    db.add_all(
        [
            Membership(org_id=acme.id, user_id=member.id, role_id=MEMBER_ROLE_ID),
            Membership(org_id=acme.id, user_id=viewer.id, role_id=viewer_role.id),
        ]
    )
    globex = await create_org(db, owner_id=stranger.id, name="Globex", slug="globex")
    secret = Project(
        org_id=globex.id, name="Globex secret plan", summary="not for Acme", created_by=stranger.id
    )
    db.add(secret)
    await db.commit()
    return World(acme.id, globex.id, owner, member, viewer, stranger, secret)


async def add_projects(
    db: AsyncSession, org_id: UUID, creator: User, *names: str, archived: bool = False
) -> list[Project]:
    projects = [
        Project(
            org_id=org_id,
            name=name,
            created_by=creator.id,
            archived_at=func.now() if archived else None,
        )
        for name in names
    ]
    db.add_all(projects)
    await db.commit()
    return projects


async def signed_in(accounts: Accounts, web: WebClient, user: User) -> WebClient:
    await accounts.login(web, user.email)
    return web


async def project_named(db: AsyncSession, name: str) -> Project | None:
    fresh = select(Project).where(Project.name == name).execution_options(populate_existing=True)
    return await db.scalar(fresh)


async def events(db: AsyncSession, action: str) -> list[AuditEvent]:
    return list((await db.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


# --- the list


async def test_the_list_shows_the_organizations_projects_and_never_another_orgs(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_projects(db, world.acme_id, world.owner, "Rocket skates", "Giant magnet")
    await signed_in(accounts, web, world.member)
    response = await web.get("/o/acme/projects")
    assert response.status_code == 200
    assert "Rocket skates" in response.text
    assert "Giant magnet" in response.text
    assert "Globex secret plan" not in response.text
    assert "2 projects" in response.text
    assert re.search(
        r'aria-current="page">(<span class="icon[^>]*>.*?</span>)?Projects<', response.text, re.S
    )


async def test_a_new_organization_sees_what_to_do_first(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.owner)
    response = await web.get("/o/acme/projects")
    assert "No projects yet" in response.text
    assert 'href="/o/acme/projects/new"' in response.text


async def test_search_matches_name_or_summary_and_treats_wildcards_as_text(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_projects(db, world.acme_id, world.owner, "Rocket skates", "Giant magnet", "100% effort")
    magnet = await project_named(db, "Giant magnet")
    assert magnet is not None
    magnet.summary = "Catches roadrunners"
    await db.commit()
    await signed_in(accounts, web, world.member)

    by_summary = await web.get("/o/acme/projects?q=roadrunner")
    assert "Giant magnet" in by_summary.text
    assert "Rocket skates" not in by_summary.text

    by_name = await web.get("/o/acme/projects?q=SKATES")
    assert "Rocket skates" in by_name.text
    assert "Giant magnet" not in by_name.text

    wildcard = await web.get("/o/acme/projects?q=%25")  # a literal "%"
    assert "100% effort" in wildcard.text
    assert "Rocket skates" not in wildcard.text


async def test_htmx_search_answers_with_the_results_fragment_only(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_projects(db, world.acme_id, world.owner, "Rocket skates", "Giant magnet")
    await signed_in(accounts, web, world.member)
    response = await web.get("/o/acme/projects?q=rocket", htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="project-results"')
    assert "Rocket skates" in response.text
    assert "Giant magnet" not in response.text
    assert "<html" not in response.text
    assert response.headers["vary"] == "HX-Request"


async def test_pages_hold_twenty_projects_and_link_to_each_other(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_projects(db, world.acme_id, world.owner, *[f"Project {n:02d}" for n in range(PER_PAGE + 5)])
    await signed_in(accounts, web, world.member)

    first = await web.get("/o/acme/projects")
    assert "Project 00" in first.text
    assert f"Project {PER_PAGE - 1:02d}" in first.text
    assert f"Project {PER_PAGE:02d}" not in first.text
    assert f"1–{PER_PAGE} of {PER_PAGE + 5} projects" in first.text
    assert 'href="/o/acme/projects?page=2"' in first.text

    second = await web.get("/o/acme/projects?page=2")
    assert f"Project {PER_PAGE:02d}" in second.text
    assert "Project 00" not in second.text
    assert 'rel="prev" href="/o/acme/projects"' in second.text
    assert 'rel="next"' not in second.text

    past_the_end = await web.get("/o/acme/projects?page=9")
    assert f"Project {PER_PAGE:02d}" in past_the_end.text  # the last page

    searched = await web.get("/o/acme/projects?q=project&page=2")
    assert 'href="/o/acme/projects?q=project"' in searched.text  # the search is kept across pages


async def test_archived_projects_are_listed_only_when_asked_for(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_projects(db, world.acme_id, world.owner, "Live one")
    await add_projects(db, world.acme_id, world.owner, "Old one", archived=True)
    await signed_in(accounts, web, world.member)
    assert "Old one" not in (await web.get("/o/acme/projects")).text
    archived = await web.get("/o/acme/projects?status=archived")
    assert "Old one" in archived.text
    assert "Live one" not in archived.text
    everything = await web.get("/o/acme/projects?status=all")
    assert "Old one" in everything.text
    assert "Live one" in everything.text


async def test_the_list_page_costs_the_same_statements_however_many_projects(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    """No N+1: each project's creator comes in the page's query, not in one query per row."""
    await add_projects(db, world.acme_id, world.member, "Only one")
    await signed_in(accounts, web, world.owner)
    status, few = await cost_of(app, web, "/o/acme/projects")
    assert status == 200

    await add_projects(db, world.acme_id, world.owner, *[f"More {n}" for n in range(PER_PAGE * 2)])
    status, many = await cost_of(app, web, "/o/acme/projects")
    assert status == 200
    assert "More 0" in (await web.get("/o/acme/projects")).text
    # Session resume, the organization and membership, the count, the page with its creators.
    assert len(many.statements) == len(few.statements) == 4, many.statements


# --- create


async def test_creating_a_project_saves_it_with_its_creator_and_records_an_audit_event(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects/new")
    response = await web.submit("/o/acme/projects", {"name": "  Rocket   skates ", "summary": "Fast."})
    assert response.status_code == 303
    assert response.headers["location"] == "/o/acme/projects"
    project = await project_named(db, "Rocket skates")
    assert project is not None
    assert (project.org_id, project.created_by, project.summary) == (world.acme_id, world.member.id, "Fast.")
    [event] = await events(db, "project.created")
    assert (event.org_id, event.actor_id, event.target_type, event.target_id) == (
        world.acme_id,
        world.member.id,
        "project",
        str(project.id),
    )
    page = await web.get("/o/acme/projects")
    assert "Project “Rocket skates” created." in page.text


async def test_the_form_cannot_set_the_organization_the_creator_or_the_archive_state(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects/new")
    response = await web.submit(
        "/o/acme/projects",
        {
            "name": "Planted",
            "org_id": str(world.globex_id),
            "created_by": str(world.stranger.id),
            "archived_at": "2020-01-01T00:00:00Z",
            "id": str(uuid4()),
        },
    )
    assert response.status_code == 303
    project = await project_named(db, "Planted")
    assert project is not None
    assert (project.org_id, project.created_by, project.archived_at) == (world.acme_id, world.member.id, None)


async def test_a_project_needs_a_name_without_hidden_characters(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects/new")
    empty = await web.submit("/o/acme/projects", {"name": "   ", "summary": "kept"})
    assert empty.status_code == 422
    assert "Give the project a name." in empty.text
    assert "kept" in empty.text
    reversed_ = await web.submit("/o/acme/projects", {"name": "Alice\u202etxt.exe"})
    assert reversed_.status_code == 422
    assert "letters, numbers and punctuation" in reversed_.text
    too_long = await web.submit("/o/acme/projects", {"name": "x" * 101})
    assert too_long.status_code == 422
    assert (
        await db.scalar(select(func.count()).select_from(Project).where(Project.org_id == world.acme_id)) == 0
    )


async def test_creating_with_htmx_shows_errors_in_the_form_and_redirects_on_success(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects/new")
    refused = await web.submit("/o/acme/projects", {"name": ""}, htmx=True)
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<form id="new-project-form"')
    created = await web.submit("/o/acme/projects", {"name": "Via htmx"}, htmx=True)
    assert created.status_code < 300
    assert created.headers["hx-redirect"] == "/o/acme/projects"


# --- edit


async def test_editing_in_place_swaps_the_row_for_a_form_and_back(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects")

    form = await web.get(f"/o/acme/projects/{project.id}/edit", htmx=True)
    assert form.status_code == 200
    assert form.text.lstrip().startswith(f'<li class="project project-editing" id="project-{project.id}"')
    assert 'value="Rocket skates"' in form.text

    saved = await web.submit(
        f"/o/acme/projects/{project.id}", {"name": "Jet skates", "summary": "Faster."}, htmx=True
    )
    assert saved.status_code == 200
    assert saved.text.lstrip().startswith(f'<li class="project" id="project-{project.id}"')
    assert "Jet skates" in saved.text
    assert "Faster." in saved.text
    assert "Project “Jet skates” saved." in saved.text  # the flash, for the alert region
    refreshed = await project_named(db, "Jet skates")
    assert refreshed is not None
    assert refreshed.summary == "Faster."
    [event] = await events(db, "project.updated")
    assert event.org_id == world.acme_id
    assert event.details["changed"] == ["name", "summary"]

    cancelled = await web.get(f"/o/acme/projects/{project.id}", htmx=True)
    assert cancelled.text.lstrip().startswith(f'<li class="project" id="project-{project.id}"')


async def test_editing_works_without_javascript_on_its_own_page(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.member)
    page = await web.get(f"/o/acme/projects/{project.id}/edit")
    assert page.status_code == 200
    assert "<html" in page.text
    assert f'action="/o/acme/projects/{project.id}"' in page.text
    refused = await web.submit(f"/o/acme/projects/{project.id}", {"name": ""})
    assert refused.status_code == 422
    assert "<html" in refused.text
    saved = await web.submit(
        f"/o/acme/projects/{project.id}", {"name": "Jet skates", "org_id": str(world.globex_id)}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/o/acme/projects"
    refreshed = await project_named(db, "Jet skates")
    assert refreshed is not None
    assert refreshed.org_id == world.acme_id


async def test_saving_unchanged_values_records_no_event(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.member)
    await web.get(f"/o/acme/projects/{project.id}/edit")
    assert (await web.submit(f"/o/acme/projects/{project.id}", {"name": "Rocket skates"})).status_code == 303
    assert await events(db, "project.updated") == []


# --- archive, delete


async def test_archiving_and_unarchiving_are_recorded(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.member)
    await web.get("/o/acme/projects")

    archived = await web.submit(f"/o/acme/projects/{project.id}/archive", htmx=True)
    assert archived.status_code == 200
    assert "Archived</span>" in archived.text
    assert "Unarchive" in archived.text
    refreshed = await project_named(db, "Rocket skates")
    assert refreshed is not None
    assert refreshed.is_archived

    back = await web.submit(f"/o/acme/projects/{project.id}/unarchive")
    assert back.status_code == 303
    refreshed = await project_named(db, "Rocket skates")
    assert refreshed is not None
    assert not refreshed.is_archived
    assert len(await events(db, "project.archived")) == len(await events(db, "project.unarchived")) == 1


async def test_deleting_asks_first_then_removes_the_project(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.member)
    confirm = await web.get(f"/o/acme/projects/{project.id}/delete")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.text
    assert await project_named(db, "Rocket skates") is not None  # asking deletes nothing

    deleted = await web.submit(f"/o/acme/projects/{project.id}/delete")
    assert deleted.status_code == 303
    assert await project_named(db, "Rocket skates") is None
    [event] = await events(db, "project.deleted")
    assert event.target_id == str(project.id)
    assert event.details["name"] == "Rocket skates"


# --- who may


def write_routes(project_id: UUID) -> list[tuple[str, str]]:
    base = f"/o/acme/projects/{project_id}"
    return [
        ("GET", "/o/acme/projects/new"),
        ("POST", "/o/acme/projects"),
        ("GET", f"{base}/edit"),
        ("POST", base),
        ("POST", f"{base}/archive"),
        ("POST", f"{base}/unarchive"),
        ("GET", f"{base}/delete"),
        ("POST", f"{base}/delete"),
    ]


@pytest.mark.parametrize("htmx", [False, True])
async def test_a_role_without_projects_write_may_read_but_change_nothing(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, htmx: bool
) -> None:
    [project] = await add_projects(db, world.acme_id, world.owner, "Rocket skates")
    await signed_in(accounts, web, world.viewer)
    listing = await web.get("/o/acme/projects")
    assert listing.status_code == 200
    assert "Rocket skates" in listing.text
    assert "/edit" not in listing.text
    assert "New project" not in listing.text
    assert (await web.get(f"/o/acme/projects/{project.id}")).status_code == 200
    for method, path in write_routes(project.id):
        if method == "GET":
            response = await web.get(path, htmx=htmx)
        else:
            response = await web.submit(path, {"name": "Changed"}, htmx=htmx)
        assert response.status_code == 403, (method, path)
    refreshed = await project_named(db, "Rocket skates")
    assert refreshed is not None
    assert not refreshed.is_archived
    assert await db.scalar(select(func.count()).select_from(Project)) == 2  # Acme's one and Globex's


@pytest.mark.parametrize("htmx", [False, True])
async def test_another_organizations_project_is_not_found_by_any_route(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, htmx: bool
) -> None:
    """Acme's owner asking for Globex's project through Acme's address: 404, like an id that never existed."""
    await signed_in(accounts, web, world.owner)
    await web.get("/o/acme/projects")
    theirs, unknown = world.globex_project.id, uuid4()
    for project_id in (theirs, unknown):
        for method, path in [("GET", f"/o/acme/projects/{project_id}"), *write_routes(project_id)[2:]]:
            if method == "GET":
                response = await web.get(path, htmx=htmx)
            else:
                response = await web.submit(path, {"name": "Stolen"}, htmx=htmx)
            assert response.status_code == 404, (method, path)
            assert "Globex secret plan" not in response.text
    secret = await project_named(db, "Globex secret plan")
    assert secret is not None
    assert secret.archived_at is None
    assert await events(db, "project.archived") == []
    assert await events(db, "project.updated") == []


async def test_another_organizations_projects_list_is_not_found(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.owner)
    for path in (
        "/o/globex/projects",
        "/o/globex/projects/new",
        f"/o/globex/projects/{world.globex_project.id}",
    ):
        response = await web.get(path)
        assert response.status_code == 404, path
        assert "Globex secret plan" not in response.text
    await web.get("/o/acme/projects")
    stolen = await web.submit(f"/o/globex/projects/{world.globex_project.id}/delete")
    assert stolen.status_code == 404


async def test_signed_out_visitors_are_sent_to_sign_in(world: World, web: WebClient) -> None:
    response = await web.get("/o/acme/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/o/acme/projects"
