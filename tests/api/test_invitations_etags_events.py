"""Invitations over the API, ETags on reads and preconditions on changes, and the member and
invitation webhook events (a delivery queued for each, whether the change came from a page or the API)."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.webhooks import EVENTS, create_endpoint
from app.auth.core.models import OrgInvitation
from app.auth.core.orgs import ADMIN_ROLE_ID
from app.auth.core.toolkit import security_of
from tests.api.support import World, bearer, build_world, context_for, create_token, membership, queued
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

ACCEPT = re.compile(r"http://testserver\.local(/invitations/accept\?token=[A-Za-z0-9_\-]+)")
INVITATIONS = "/api/v1/orgs/acme/invitations"


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


@pytest.fixture
def api(web: WebClient) -> WebClient:
    return web.other_browser()


@pytest.fixture
async def ada(world: World, accounts: Accounts, web: WebClient) -> str:
    """Ada (admin of Acme): a token that may invite and write projects."""
    await accounts.login(web, world.admin.email)
    return await create_token(web, scopes=("account:read", "members:invite", "projects:write"))


@pytest.fixture
async def hooked(world: World, db: AsyncSession, app: Litestar) -> None:
    """Acme has an endpoint listening to every event (a closed local port: nothing is received)."""
    ctx = await context_for(db, world.acme_id, world.owner)
    await create_endpoint(
        db, security_of(app), ctx, "http://127.0.0.1:9/hook", list(EVENTS), require_https=False
    )
    await db.commit()


# --- invitations


async def test_invitations_are_listed_sent_and_revoked_with_the_pages_permission(
    world: World, ada: str, api: WebClient, mailbox: Mailbox, accounts: Accounts, web: WebClient
) -> None:
    made = await api.request(
        "POST", INVITATIONS, json={"email": "nina@example.com", "role": "member"}, headers=bearer(ada)
    )
    assert made.status_code == 201, made.text
    invitation = made.json()
    assert invitation["role"] == "member"
    assert "token" not in invitation
    assert made.headers["location"] == f"{INVITATIONS}/{invitation['id']}"
    [message] = await mailbox.wait_for("nina@example.com")
    assert ACCEPT.search(message.text_body), "the link goes to the mailbox, as from the page"
    listed = (await api.get(INVITATIONS, headers=bearer(ada))).json()
    assert [i["email"] for i in listed] == ["nina@example.com"]
    assert (
        await api.request("DELETE", f"{INVITATIONS}/{invitation['id']}", headers=bearer(ada))
    ).status_code == 204
    assert (await api.get(INVITATIONS, headers=bearer(ada))).json() == []
    again = await api.request("DELETE", f"{INVITATIONS}/{invitation['id']}", headers=bearer(ada))
    assert again.status_code == 404
    too_strong = await api.request(
        "POST", INVITATIONS, json={"email": "x@example.com", "role": "owner"}, headers=bearer(ada)
    )
    assert too_strong.status_code == 403, "an admin cannot invite an owner (the core's rule)"
    unknown = await api.request(
        "POST", INVITATIONS, json={"email": "x@example.com", "role": "nope"}, headers=bearer(ada)
    )
    assert unknown.status_code == 422
    browser = web.other_browser()
    await accounts.login(browser, world.member.email)
    mia = await create_token(browser, scopes=("members:invite",))
    assert (await api.get(INVITATIONS, headers=bearer(mia))).status_code == 403, (
        "a member's role may not invite"
    )
    plain = await api.request("POST", INVITATIONS, json={"email": "y@example.com"}, headers=bearer(mia))
    assert plain.status_code == 403


async def test_listing_invitations_costs_the_same_for_one_or_many(
    world: World, ada: str, api: WebClient, app: Litestar, db: AsyncSession
) -> None:
    async def cost() -> int:
        await api.get(INVITATIONS, headers=bearer(ada))  # warm up
        engine = app.state.db_config.get_engine().sync_engine
        statements: list[str] = []

        def on_statement(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", on_statement)
        try:
            assert (await api.get(INVITATIONS, headers=bearer(ada))).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", on_statement)
        return len(statements)

    await api.request("POST", INVITATIONS, json={"email": "a@example.com"}, headers=bearer(ada))
    few = await cost()
    for n in range(4):
        await api.request("POST", INVITATIONS, json={"email": f"b{n}@example.com"}, headers=bearer(ada))
    assert await cost() == few <= 5


# --- ETags


async def test_reads_carry_an_etag_and_a_stale_if_match_is_refused(ada: str, api: WebClient) -> None:
    me = await api.get("/api/v1/me", headers=bearer(ada))
    etag = me.headers["etag"]
    unchanged = await api.get("/api/v1/me", headers={**bearer(ada), "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    made = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Tagged"}, headers=bearer(ada)
    )
    path = made.headers["location"]
    first = await api.get(path, headers=bearer(ada))
    tag = first.headers["etag"]
    assert (await api.get(path, headers={**bearer(ada), "If-None-Match": f"W/{tag}"})).status_code == 304
    changed = await api.request(
        "PATCH", path, json={"name": "Tagged 2"}, headers={**bearer(ada), "If-Match": tag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    stale = await api.request(
        "PATCH", path, json={"name": "Lost update"}, headers={**bearer(ada), "If-Match": tag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(path, headers={**bearer(ada), "If-None-Match": tag})).status_code == 200
    assert (await api.request("DELETE", path, headers={**bearer(ada), "If-Match": tag})).status_code == 412
    current = changed.headers["etag"]
    assert (
        await api.request("DELETE", path, headers={**bearer(ada), "If-Match": current})
    ).status_code == 204


# --- webhook events


async def test_member_and_invitation_changes_queue_their_events(
    world: World,
    hooked: None,
    ada: str,
    api: WebClient,
    accounts: Accounts,
    web: WebClient,
    mailbox: Mailbox,
    db: AsyncSession,
) -> None:
    nina = await accounts.create("nina@example.com")
    made = await api.request("POST", INVITATIONS, json={"email": nina.email}, headers=bearer(ada))
    [message] = await mailbox.wait_for(nina.email)
    link = ACCEPT.search(message.text_body)
    assert link is not None
    invitee = web.other_browser()
    await accounts.login(invitee, nina.email)
    await invitee.get(link.group(1))
    await invitee.get("/invitations/accept")
    assert (await invitee.submit("/invitations/accept")).status_code == 303
    second = await api.request("POST", INVITATIONS, json={"email": "zed@example.com"}, headers=bearer(ada))
    await api.request("DELETE", f"{INVITATIONS}/{second.json()['id']}", headers=bearer(ada))

    owner = web.other_browser()
    await accounts.login(owner, world.owner.email)
    mia = await membership(db, world.acme_id, world.member)
    await owner.get("/o/acme/members")
    assert (
        await owner.submit(f"/o/acme/members/{mia.id}/role", {"role_id": str(ADMIN_ROLE_ID)})
    ).status_code == 303
    assert (await owner.submit(f"/o/acme/members/{mia.id}/remove")).status_code == 303
    await invitee.get("/o/acme/members")
    assert (await invitee.submit("/o/acme/members/leave")).status_code == 303

    events = await queued(db)
    kinds = [kind for kind, _ in events]
    assert kinds == [
        "invitation.created",
        "invitation.accepted",
        "member.joined",
        "invitation.created",
        "invitation.revoked",
        "member.role_changed",
        "member.left",
        "member.left",
    ]
    data = dict(reversed(events))  # the first of each kind
    assert data["invitation.created"]["id"] == made.json()["id"]
    assert data["member.joined"]["user_id"] == str(nina.id)
    assert data["member.role_changed"] == {
        "user_id": str(world.member.id),
        "email": world.member.email,
        "role": "admin",
    }
    assert [d["reason"] for k, d in events if k == "member.left"] == ["removed", "left"]
    assert all("token" not in d for _, d in events)
    assert await db.scalar(select(OrgInvitation.accepted_at).where(OrgInvitation.id == made.json()["id"]))
