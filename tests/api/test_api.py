"""`/api/v1`: the account, organizations, members and projects; errors as problem details; CORS; the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, AuthSession, Organization
from app.projects.models import Project
from tests.api.conftest import PARTNER_ORIGIN, REQUESTS_PER_MINUTE
from tests.api.support import World, bearer, build_world, create_token
from tests.support.accounts import Accounts
from tests.support.web import WebClient

ALL = ("account:read", "sessions:manage", "projects:write")


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


@pytest.fixture
async def token(world: World, accounts: Accounts, web: WebClient) -> str:
    """A personal token of Ada (admin of Acme) with every scope the tests need."""
    await accounts.login(web, world.admin.email)
    return await create_token(web, scopes=ALL)


@pytest.fixture
def api(web: WebClient) -> WebClient:
    """A client with no cookies, as a script would be."""
    return web.other_browser()


def is_problem(response: object, status: int) -> bool:
    headers = response.headers  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    return (
        response.status_code == status  # type: ignore[attr-defined]
        and headers["content-type"].startswith("application/problem+json")
        and body["status"] == status
        and isinstance(body["title"], str)
    )


# --- the account


async def test_me_and_my_sessions(world: World, token: str, api: WebClient, db: AsyncSession) -> None:
    me = await api.get("/api/v1/me", headers=bearer(token))
    assert me.json()["email"] == world.admin.email
    assert set(me.json()["scopes"]) == set(ALL)
    sessions = await api.get("/api/v1/me/sessions", headers=bearer(token))
    assert sessions.status_code == 200
    [session] = sessions.json()
    row = await db.scalar(select(AuthSession).where(AuthSession.user_id == world.admin.id))
    assert row is not None
    assert session["id"] == str(row.id)


async def test_a_session_can_be_signed_out_through_the_api(
    world: World, token: str, api: WebClient, web: WebClient
) -> None:
    [session] = (await api.get("/api/v1/me/sessions", headers=bearer(token))).json()
    gone = await api.request("DELETE", f"/api/v1/me/sessions/{session['id']}", headers=bearer(token))
    assert gone.status_code == 204
    assert (await api.get("/api/v1/me/sessions", headers=bearer(token))).json() == []
    assert (await web.get("/settings/tokens", follow_redirects=False)).status_code in (302, 303)
    again = await api.request("DELETE", f"/api/v1/me/sessions/{session['id']}", headers=bearer(token))
    assert is_problem(again, 404)


# --- organizations and members


async def test_organizations_and_members(world: World, token: str, api: WebClient) -> None:
    orgs = (await api.get("/api/v1/orgs", headers=bearer(token))).json()
    assert [o["slug"] for o in orgs] == ["acme"]
    assert orgs[0]["permissions"] == ["projects:write"]
    members = (await api.get("/api/v1/orgs/acme/members", headers=bearer(token))).json()
    assert {(m["email"], m["role"]) for m in members} == {
        ("olive@example.com", "owner"),
        ("ada@example.com", "admin"),
        ("mia@example.com", "member"),
    }
    assert is_problem(await api.get("/api/v1/orgs/globex/members", headers=bearer(token)), 404)


# --- projects


async def test_projects_full_cycle(world: World, token: str, api: WebClient, db: AsyncSession) -> None:
    made = await api.request(
        "POST",
        "/api/v1/orgs/acme/projects",
        json={"name": "Rocket", "summary": "fast"},
        headers=bearer(token),
    )
    assert made.status_code == 201
    project = made.json()
    assert made.headers["location"] == f"/api/v1/orgs/acme/projects/{project['id']}"
    path = f"/api/v1/orgs/acme/projects/{project['id']}"
    assert (await api.get(path, headers=bearer(token))).json()["name"] == "Rocket"
    changed = await api.request(
        "PATCH", path, json={"name": "Rocket 2", "archived": True}, headers=bearer(token)
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Rocket 2"
    assert changed.json()["archived"] is True
    stored = await db.scalar(select(Project).where(Project.id == project["id"]))
    assert stored is not None
    assert stored.org_id == world.acme_id
    assert stored.created_by == world.admin.id
    assert (await api.request("DELETE", path, headers=bearer(token))).status_code == 204
    assert is_problem(await api.get(path, headers=bearer(token)), 404)
    actions = set(
        (await db.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "project"))).all()
    )
    assert {"project.created", "project.updated", "project.archived", "project.deleted"} <= actions


async def test_another_organizations_project_is_not_found(
    world: World, token: str, api: WebClient, db: AsyncSession
) -> None:
    secret = Project(org_id=world.globex_id, name="Globex plan", created_by=world.stranger.id)
    db.add(secret)
    await db.commit()
    for method in ("GET", "PATCH", "DELETE"):
        path = f"/api/v1/orgs/acme/projects/{secret.id}"
        response = await api.request(
            method, path, json={"name": "mine"} if method == "PATCH" else None, headers=bearer(token)
        )
        assert is_problem(response, 404), method


async def test_a_suspended_organization_is_closed_to_tokens_too(
    world: World, token: str, api: WebClient, db: AsyncSession
) -> None:
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(token))).status_code == 200
    await db.execute(
        update(Organization).where(Organization.id == world.acme_id).values(suspended_at=func.now())
    )
    await db.commit()
    response = await api.get("/api/v1/orgs/acme/projects", headers=bearer(token))
    assert is_problem(response, 403), "refused as suspended, not hidden as unknown (404)"


async def test_a_deleted_organization_is_gone_for_tokens_as_for_pages(
    world: World, token: str, api: WebClient, db: AsyncSession
) -> None:
    await db.execute(
        update(Organization).where(Organization.id == world.acme_id).values(deleted_at=func.now())
    )
    await db.commit()
    assert is_problem(await api.get("/api/v1/orgs/acme/projects", headers=bearer(token)), 404)
    assert (await api.get("/api/v1/orgs", headers=bearer(token))).json() == []


async def test_projects_come_in_cursor_pages_with_filters(
    world: World, token: str, api: WebClient, db: AsyncSession
) -> None:
    for n in range(5):
        db.add(Project(org_id=world.acme_id, name=f"Alpha {n}", created_by=world.owner.id))
    db.add(Project(org_id=world.acme_id, name="Beta", summary="alpha inside", created_by=world.owner.id))
    db.add(
        Project(
            org_id=world.acme_id, name="Old", created_by=world.owner.id, archived_at=world.owner.created_at
        )
    )
    await db.commit()
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.get(f"/api/v1/orgs/acme/projects?{query}", headers=bearer(token))).json()
        assert len(page["items"]) <= 2
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([f"Alpha {n}" for n in range(5)] + ["Beta"])
    found = (await api.get("/api/v1/orgs/acme/projects?q=alpha&limit=100", headers=bearer(token))).json()
    assert len(found["items"]) == 6
    archived = (await api.get("/api/v1/orgs/acme/projects?status=archived", headers=bearer(token))).json()
    assert [p["name"] for p in archived["items"]] == ["Old"]


async def test_invalid_input_is_a_problem_with_the_fields_at_fault(token: str, api: WebClient) -> None:
    empty = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "   "}, headers=bearer(token)
    )
    assert is_problem(empty, 422)
    assert empty.json()["errors"][0]["field"] == "name"
    wrong_type = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": 5}, headers=bearer(token)
    )
    assert is_problem(wrong_type, 422) or is_problem(wrong_type, 400)
    bad_limit = await api.get("/api/v1/orgs/acme/projects?limit=0", headers=bearer(token))
    assert is_problem(bad_limit, 422) or is_problem(bad_limit, 400)
    bad_cursor = await api.get("/api/v1/orgs/acme/projects?cursor=%21%21", headers=bearer(token))
    assert is_problem(bad_cursor, 400)


# --- errors, limits, CORS


async def test_every_error_under_api_is_a_problem(token: str, api: WebClient) -> None:
    assert is_problem(await api.get("/api/v1/no-such-thing", headers=bearer(token)), 404)
    assert is_problem(await api.get("/api/v1/me"), 401)
    assert is_problem(await api.request("PUT", "/api/v1/me", headers=bearer(token)), 405)


async def test_answers_carry_rate_limit_headers_and_the_limit_holds(
    token: str, api: WebClient, clock: FrozenClock
) -> None:
    first = await api.get("/api/v1/me", headers=bearer(token))
    assert first.headers["ratelimit-limit"] == str(REQUESTS_PER_MINUTE)
    remaining = int(first.headers["ratelimit-remaining"])
    assert remaining == REQUESTS_PER_MINUTE - 1
    for _ in range(remaining):
        assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 200
    refused = await api.get("/api/v1/me", headers=bearer(token))
    assert is_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    clock.advance(timedelta(minutes=1))
    assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 200


async def test_a_preflight_from_a_foreign_origin_gets_no_cors_headers(api: WebClient) -> None:
    headers = {"origin": "https://evil.example", "access-control-request-method": "POST"}
    response = await api.request("OPTIONS", "/api/v1/orgs/acme/projects", headers=headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    actual = await api.get("/api/v1/me", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in actual.headers


async def test_the_allowlisted_origin_may_call_the_api_but_never_the_pages(
    token: str, api: WebClient
) -> None:
    headers = {"origin": PARTNER_ORIGIN, "access-control-request-method": "POST"}
    preflight = await api.request("OPTIONS", "/api/v1/orgs/acme/projects", headers=headers)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == PARTNER_ORIGIN
    assert "access-control-allow-credentials" not in preflight.headers
    actual = await api.get("/api/v1/me", headers={**bearer(token), "origin": PARTNER_ORIGIN})
    assert actual.headers["access-control-allow-origin"] == PARTNER_ORIGIN
    page = await api.get("/login", headers={"origin": PARTNER_ORIGIN})
    assert "access-control-allow-origin" not in page.headers


# --- the schema and its docs


async def test_switched_off_the_jwt_endpoints_are_404_and_not_in_the_schema(api: WebClient) -> None:
    for path in ("/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/revoke"):
        assert is_problem(await api.request("POST", path, json={"refresh_token": "x"}), 404), path
    schema = (await api.get("/api/openapi.json")).json()
    assert not any(path.startswith("/api/v1/auth") for path in schema["paths"])
    jwt_shaped = "eyJhbGciOiJFZDI1NTE5In0.eyJzdWIiOiJ4In0.c2ln"
    assert is_problem(await api.get("/api/v1/me", headers=bearer(jwt_shaped)), 401)


async def test_the_openapi_schema_describes_the_api(api: WebClient) -> None:
    response = await api.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert "/api/v1/orgs/{org_slug}/projects" in schema["paths"]
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_the_docs_page_needs_no_script_from_elsewhere(api: WebClient) -> None:
    response = await api.get("/developers/api")
    assert response.status_code == 200
    assert "GET /api/v1/orgs/{org_slug}/projects" in response.text
    assert "https://" not in response.text.split("<body", 1)[0]
    assert (
        "unsafe-inline"
        not in response.headers["content-security-policy"].split("script-src", 1)[-1].split(";")[0]
    )


async def test_the_docs_page_costs_only_the_session_lookup(
    world: World, accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    from tests.auth.test_sessions import cost_of

    await accounts.login(web, world.member.email)
    status, cost = await cost_of(app, web, "/developers/api")
    assert status == 200
    assert len(cost.statements) <= 1, cost.statements
