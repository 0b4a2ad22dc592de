"""API tokens: made under sudo and shown once, kept as digests, refused once revoked, expired or orphaned [73][77]."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import ApiToken
from app.auth.core.orgs import leave_org, remove_member
from app.auth.models import User
from tests.api.support import World, bearer, build_world, context_for, create_token, give_role, membership
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


async def signed_in(accounts: Accounts, web: WebClient, user: User) -> WebClient:
    await accounts.login(web, user.email)
    return web


async def tokens(db: AsyncSession) -> list[ApiToken]:
    query = select(ApiToken).execution_options(populate_existing=True).order_by(ApiToken.created_at)
    return list((await db.scalars(query)).all())


# --- making a token


async def test_a_new_token_is_shown_once_and_only_its_digest_is_stored(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, name="deploy")
    assert value.startswith("gth_")
    assert len(value) == 4 + 8 + 1 + 43
    [row] = await tokens(db)
    assert row.token_hash == hashlib.sha256(value.encode()).digest()
    secret = value.rsplit("_", 1)[1]
    dump = (await db.execute(text("SELECT api_tokens::text FROM api_tokens"))).scalar_one()
    assert secret not in dump
    again = await web.get("/settings/tokens")
    assert value not in again.text
    assert f"gth_{row.public_id}" in again.text
    assert "deploy" in again.text


async def test_making_a_token_needs_a_fresh_sudo(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    await signed_in(accounts, web, world.admin)
    await web.get("/settings/tokens")
    clock.advance(timedelta(minutes=16))
    response = await web.submit("/settings/tokens", {"name": "late", "days": "90"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sudo")
    assert await tokens(db) == []


async def test_the_owner_is_mailed_when_a_token_is_made(
    world: World, accounts: Accounts, web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    await create_token(web, name="backup job")
    [row] = await tokens(db)
    [message] = await mailbox.wait_for(world.admin.email, subject="A new Gatehouse API token was created")
    assert "backup job" in message.text_body
    assert f"gth_{row.public_id}" in message.text_body


async def test_a_token_cannot_outlive_the_policy(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    await web.get("/settings/tokens")
    response = await web.submit("/settings/tokens", {"name": "forever", "days": "366"})
    assert response.status_code == 422
    assert await tokens(db) == []


async def test_the_default_lifetime_is_ninety_days(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    await signed_in(accounts, web, world.admin)
    await web.get("/settings/tokens")
    response = await web.submit("/settings/tokens", {"name": "default"})
    assert response.status_code == 201
    [row] = await tokens(db)
    assert row.expires_at == clock.now() + timedelta(days=90)


# --- using it


async def test_a_token_calls_the_api_and_its_use_is_recorded(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    api = web.other_browser()
    response = await api.get("/api/v1/me", headers=bearer(value))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == world.admin.email
    [row] = await tokens(db)
    assert row.last_used_at is not None
    assert row.last_used_ip != ""


async def test_a_token_in_the_query_string_is_not_accepted(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    response = await web.other_browser().get(f"/api/v1/me?access_token={value}")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_session_cookie_is_never_accepted_on_api_routes(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.admin)
    assert (await web.get("/settings/tokens")).status_code == 200
    read = await web.get("/api/v1/me")
    write = await web.request(
        "POST",
        "/api/v1/orgs/acme/projects",
        json={"name": "via cookie"},
        headers={"origin": "http://testserver.local"},
    )
    assert read.status_code == 401
    assert write.status_code == 401
    assert "location" not in write.headers


async def test_a_revoked_token_stops_at_the_next_call(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    api = web.other_browser()
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 200
    [row] = await tokens(db)
    response = await web.submit(f"/settings/tokens/{row.id}/revoke")
    assert response.status_code == 303
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 401


async def test_nobody_revokes_another_persons_token(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    await create_token(web)
    [row] = await tokens(db)
    other = await signed_in(accounts, web.other_browser(), world.member)
    await other.get("/settings/tokens")
    assert (await other.submit(f"/settings/tokens/{row.id}/revoke")).status_code == 404
    [row] = await tokens(db)
    assert row.revoked_at is None


async def test_an_expired_token_is_refused(
    world: World, accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",), days=7)
    api = web.other_browser()
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 401


async def test_a_disabled_users_tokens_stop_at_once(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    await db.execute(update(User).where(User.id == world.admin.id).values(is_active=False))
    await db.commit()
    assert (await web.other_browser().get("/api/v1/me", headers=bearer(value))).status_code == 401


async def test_a_made_up_token_of_the_right_shape_is_refused(web: WebClient) -> None:
    fake = "gth_abcdefgh_" + "A" * 43
    assert (await web.get("/api/v1/me", headers=bearer(fake))).status_code == 401


# --- scopes and the owner's rights


async def test_a_token_without_the_scope_cannot_write(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.admin)
    reader = await create_token(web, name="reader")
    writer = await create_token(web, name="writer", scopes=("projects:write",))
    api = web.other_browser()
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(reader))).status_code == 200
    refused = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "X"}, headers=bearer(reader)
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    made = await api.request("POST", "/api/v1/orgs/acme/projects", json={"name": "X"}, headers=bearer(writer))
    assert made.status_code == 201


async def test_a_demotion_applies_to_the_next_call(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.member)
    value = await create_token(web, scopes=("projects:write",))
    api = web.other_browser()
    first = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "One"}, headers=bearer(value)
    )
    assert first.status_code == 201
    await give_role(db, world.acme_id, world.member, [])
    second = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Two"}, headers=bearer(value)
    )
    assert second.status_code == 403


async def test_a_personal_token_never_reaches_an_organization_its_user_is_not_in(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("projects:write",))
    response = await web.other_browser().get("/api/v1/orgs/globex/projects", headers=bearer(value))
    assert response.status_code == 404


async def test_removing_a_member_revokes_the_organization_tokens_they_made(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    admin = await signed_in(accounts, web, world.admin)
    org_token = await create_token(admin, page="/o/acme/tokens", scopes=("projects:write",))
    personal = await create_token(admin, scopes=("projects:write",))
    api = web.other_browser()
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(org_token))).status_code == 200
    row = await membership(db, world.acme_id, world.admin)
    await remove_member(db, app.state.security, await context_for(db, world.acme_id, world.owner), row.id)
    await db.commit()
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(org_token))).status_code == 401
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(personal))).status_code == 404


async def test_an_organization_token_survives_its_creator_leaving(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    admin = await signed_in(accounts, web, world.admin)
    org_token = await create_token(admin, page="/o/acme/tokens", scopes=("projects:write",))
    await leave_org(db, app.state.security, await context_for(db, world.acme_id, world.admin))
    await db.commit()
    api = web.other_browser()
    response = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Kept"}, headers=bearer(org_token)
    )
    assert response.status_code == 201, response.text


async def test_an_organization_token_only_reaches_its_organization(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    admin = await signed_in(accounts, web, world.admin)
    org_token = await create_token(admin, page="/o/acme/tokens")
    api = web.other_browser()
    assert (await api.get("/api/v1/orgs/globex", headers=bearer(org_token))).status_code == 404
    assert (await api.get("/api/v1/me", headers=bearer(org_token))).status_code == 403
    listed = await api.get("/api/v1/orgs", headers=bearer(org_token))
    assert [org["slug"] for org in listed.json()] == ["acme"]


async def test_an_organization_token_cannot_carry_more_than_its_maker_holds(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    admin = await signed_in(accounts, web, world.admin)
    await admin.get("/o/acme/tokens")
    response = await admin.submit(
        "/o/acme/tokens", {"name": "too much", "scopes": ["org:delete"], "days": "30"}
    )
    assert response.status_code == 422
    assert await tokens(db) == []


async def test_members_without_tokens_manage_do_not_see_the_organization_tokens(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    member = await signed_in(accounts, web, world.member)
    assert (await member.get("/o/acme/tokens")).status_code == 403


# --- cost of the pages


async def test_the_tokens_page_costs_the_same_for_one_token_or_many(
    world: World, accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await signed_in(accounts, web, world.admin)
    await create_token(web, name="one")
    status, few = await cost_of(app, web, "/settings/tokens")
    for n in range(4):
        await create_token(web, name=f"more {n}")
    status, many = await cost_of(app, web, "/settings/tokens")
    assert status == 200
    assert len(many.statements) == len(few.statements) <= 3, many.statements


async def test_the_organization_tokens_page_costs_the_same_for_one_token_or_many(
    world: World, accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await signed_in(accounts, web, world.admin)
    await create_token(web, name="one", page="/o/acme/tokens")
    status, few = await cost_of(app, web, "/o/acme/tokens")
    for n in range(4):
        await create_token(web, name=f"more {n}", page="/o/acme/tokens")
    status, many = await cost_of(app, web, "/o/acme/tokens")
    assert status == 200
    assert len(many.statements) == len(few.statements) <= 4, many.statements


async def test_removing_a_member_on_the_members_page_stops_their_org_token_at_once(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    admin = await signed_in(accounts, web, world.admin)
    org_token = await create_token(admin, page="/o/acme/tokens", scopes=("projects:write",))
    api = web.other_browser()
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(org_token))).status_code == 200
    owner = await signed_in(accounts, web.other_browser(), world.owner)
    await owner.get("/o/acme/members")
    row = await membership(db, world.acme_id, world.admin)
    removed = await owner.submit(f"/o/acme/members/{row.id}/remove")
    assert removed.status_code == 303, removed.text[:300]
    assert (await api.get("/api/v1/orgs/acme/projects", headers=bearer(org_token))).status_code == 401


async def test_a_locked_users_tokens_are_refused_while_the_lock_lasts(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    await db.execute(update(User).where(User.id == world.admin.id).values(sign_in_locked_at=clock.now()))
    await db.commit()
    api = web.other_browser()
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 401
    await db.execute(update(User).where(User.id == world.admin.id).values(sign_in_locked_at=None))
    await db.commit()
    assert (await api.get("/api/v1/me", headers=bearer(value))).status_code == 200


async def test_disabling_an_account_revokes_its_tokens_for_good(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    from app.auth.core.api_tokens import revoke_user_tokens

    await signed_in(accounts, web, world.admin)
    value = await create_token(web, scopes=("account:read",))
    assert await revoke_user_tokens(db, world.admin.id, clock.now()) == 1
    await db.commit()
    [row] = await tokens(db)
    assert row.revoked_at == clock.now()
    assert (await web.other_browser().get("/api/v1/me", headers=bearer(value))).status_code == 401
