"""Security events over webhooks: only what an organization's security policy opts into, only about
its own members or itself, queued in the change's transaction (app.auth.core.security_events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.webhooks import create_endpoint
from app.asgi import create_app
from app.auth.core.audit import AuditRecord
from app.auth.core.clock import FrozenClock
from app.auth.core.models import Organization
from app.auth.core.security_events import SECURITY_EVENTS, classify
from app.auth.core.toolkit import security_of
from app.settings import Settings
from tests.api.receiver import Receiver, add_endpoint, receiver_snippet
from tests.api.support import World, build_world, context_for, queued
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.web import BASE_URL, WebClient

NEW_PASSWORD = "a brand new passphrase 2027"


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


@pytest.fixture
async def ada(world: World, accounts: Accounts, web: WebClient) -> WebClient:
    """Ada, an admin of Acme, signed in (with a fresh sudo)."""
    await accounts.login(web, world.admin.email)
    return web


async def opt_in(web: WebClient, slug: str, events: list[str]) -> Any:
    """Save the organization's security settings with these security events checked."""
    page = await web.get(f"/o/{slug}/settings")
    assert page.status_code == 200
    return await web.submit(f"/o/{slug}/settings/security", {"security_events": events})


async def listen_everywhere(db: AsyncSession, app: Litestar, org_id: Any, owner: Any) -> None:
    """An endpoint of the organization that chose every event (a closed port: nothing is received)."""
    ctx = await context_for(db, org_id, owner)
    await create_endpoint(
        db, security_of(app), ctx, "http://127.0.0.1:9/hook", list(SECURITY_EVENTS), require_https=False
    )
    await db.commit()


async def change_password(web: WebClient) -> None:
    await web.get("/settings/password")
    response = await web.submit(
        "/settings/password", {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code in (200, 303), response.text[:300]


async def test_an_opted_in_member_event_reaches_a_real_receiver_signed(
    world: World, ada: WebClient, accounts: Accounts, receiver: Receiver
) -> None:
    saved = await opt_in(ada, "acme", ["security.password_changed"])
    assert saved.status_code == 303
    secret = await add_endpoint(ada, receiver.url, ["security.password_changed"])
    mia = ada.other_browser()
    await accounts.login(mia, world.member.email)
    await change_password(mia)
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    assert receiver_snippet()(secret, headers, body)
    payload = json.loads(body)
    assert payload["type"] == "security.password_changed"
    data = payload["data"]
    assert data["user_id"] == str(world.member.id)
    assert data["email"] == world.member.email
    assert data["org_id"] == str(world.acme_id)
    assert data["action"] == "account.password.changed"
    assert data["actor_id"] is None
    assert NEW_PASSWORD not in body.decode()
    assert DEFAULT_PASSWORD not in body.decode()


async def test_nothing_is_sent_until_the_policy_opts_in_even_to_an_endpoint_that_chose_it(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar
) -> None:
    await listen_everywhere(db, app, world.acme_id, world.owner)
    mia = ada.other_browser()
    await accounts.login(mia, world.member.email)
    await change_password(mia)
    assert await queued(db) == []
    org = await db.scalar(select(Organization).where(Organization.id == world.acme_id))
    assert org is not None
    assert org.security_events == [], "a new organization shares nothing"


async def test_an_event_goes_only_to_endpoints_that_chose_it(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar
) -> None:
    await opt_in(ada, "acme", ["security.password_changed", "security.sessions_revoked"])
    ctx = await context_for(db, world.acme_id, world.owner)
    await create_endpoint(
        db, security_of(app), ctx, "http://127.0.0.1:9/a", ["security.sessions_revoked"], require_https=False
    )
    await db.commit()
    mia = ada.other_browser()
    await accounts.login(mia, world.member.email)
    await change_password(mia)
    assert await queued(db) == []


async def test_a_member_event_goes_to_each_opted_in_org_they_belong_to_and_no_other(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar
) -> None:
    """Mia is in Acme only: Globex opted in and listens too, and hears nothing of her."""
    await listen_everywhere(db, app, world.acme_id, world.owner)
    await listen_everywhere(db, app, world.globex_id, world.stranger)
    await opt_in(ada, "acme", list(SECURITY_EVENTS))
    gus = ada.other_browser()
    await accounts.login(gus, world.stranger.email)
    await opt_in(gus, "globex", list(SECURITY_EVENTS))
    before = len(await queued(db))  # the two policy changes themselves
    mia = ada.other_browser()
    await accounts.login(mia, world.member.email)
    await change_password(mia)
    new = (await queued(db))[before:]
    assert [(kind, data["org_id"]) for kind, data in new] == [
        ("security.password_changed", str(world.acme_id))
    ]


async def test_the_policy_change_itself_is_an_organization_event_for_that_organization_only(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar
) -> None:
    await listen_everywhere(db, app, world.acme_id, world.owner)
    await listen_everywhere(db, app, world.globex_id, world.stranger)
    await opt_in(ada, "acme", ["security.policy_changed"])
    [(kind, data)] = await queued(db)
    assert kind == "security.policy_changed"
    assert data["org_id"] == str(world.acme_id)
    assert data["actor_id"] == str(world.admin.id)
    assert data["action"] == "org.security_policy_changed"
    assert "user_id" not in data
    assert "email" not in data


async def test_an_unknown_security_event_is_refused_and_nothing_changes(
    world: World, ada: WebClient, db: AsyncSession
) -> None:
    refused = await opt_in(ada, "acme", ["security.password_changed", "security.everything"])
    assert refused.status_code == 422
    assert "Unknown security event" in refused.text
    org = await db.scalar(
        select(Organization).where(Organization.id == world.acme_id).execution_options(populate_existing=True)
    )
    assert org is not None
    assert org.security_events == []


async def test_the_settings_page_shows_and_keeps_the_choice(world: World, ada: WebClient) -> None:
    await opt_in(ada, "acme", ["security.sessions_revoked"])
    page = (await ada.get("/o/acme/settings")).text
    assert 'value="security.sessions_revoked" type="checkbox" checked' in page
    assert 'value="security.password_changed" type="checkbox" >' in page
    # Saving the rest of the policy without the box unchecks it (the form always carries the choice).
    await opt_in(ada, "acme", [])
    assert 'value="security.sessions_revoked" type="checkbox" >' in (await ada.get("/o/acme/settings")).text


async def test_other_audit_events_cost_no_statement_and_a_security_event_one_lookup(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar
) -> None:
    """A sign-in (not a security event) never looks for endpoints; a password change looks once,
    whatever the number of organizations, then writes one delivery per endpoint."""
    await listen_everywhere(db, app, world.acme_id, world.owner)
    await opt_in(ada, "acme", ["security.password_changed"])
    engine = app.state.db_config.get_engine().sync_engine
    seen: list[str] = []

    def on_statement(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    mia = ada.other_browser()
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        await accounts.login(mia, world.member.email)
        lookups_at_sign_in = [s for s in seen if "webhook_endpoints" in s]
        seen.clear()
        await change_password(mia)
        lookups_at_change = [s for s in seen if "FROM webhook_endpoints" in s]
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert lookups_at_sign_in == []
    assert len(lookups_at_change) == 1


def _record(action: str, outcome: str = "success", **fields: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "occurred_at": datetime(2026, 12, 1, tzinfo=UTC),
        "action": action,
        "outcome": outcome,
        "actor_id": "0193a5e2-0000-7000-8000-000000000001",
        "target_type": "user",
        "target_id": "0193a5e2-0000-7000-8000-000000000001",
        "ip_address": "203.0.113.9",
        "user_agent": "",
        "details": {},
    }
    return AuditRecord(**{**base, **fields})


def test_which_actions_are_security_events_and_whom_they_are_about() -> None:
    member = "0193a5e2-0000-7000-8000-000000000001"
    support = "0193a5e2-0000-7000-8000-000000000002"
    assert classify(_record("auth.login.succeeded")) is None
    assert classify(_record("auth.passkey.added")).type == "security.second_factor_changed"  # type: ignore[union-attr]
    # A change that did not happen (an address change that lost a race) is not forwarded ...
    assert classify(_record("account.email_change.confirmed", "failure")) is None
    # ... but an attack noticed is recorded as a failure and is the event itself.
    reuse = classify(_record("auth.remember.reuse_detected", "failure"))
    assert reuse is not None
    assert reuse.type == "security.credential_reuse"
    # Support acting on a member: about the member, done by support.
    seen = classify(_record("admin.impersonation.started", actor_id=support, target_id=member))
    assert seen is not None
    assert str(seen.user_id) == member
    assert str(seen.actor_id) == support
    # An organization event needs its organization.
    assert classify(_record("org.security_policy_changed", target_type="", target_id="")) is None


async def test_with_webhooks_switched_off_nothing_is_offered_or_queued(
    world: World, accounts: Accounts, db: AsyncSession, app: Litestar, settings: Settings, clock: FrozenClock
) -> None:
    """An organization that opted in while webhooks were on keeps its choice, but nothing is queued."""
    await listen_everywhere(db, app, world.acme_id, world.owner)
    org = await db.get_one(Organization, world.acme_id)
    org.security_events = ["security.password_changed", "security.policy_changed"]
    await db.commit()
    off = create_app(settings.model_copy(update={"feature_webhooks": False}), clock=clock)
    async with AsyncTestClient(app=off, base_url=BASE_URL) as client:
        web = WebClient(client)
        await accounts.login(web, world.admin.email)
        page = await web.get("/o/acme/settings")
        assert page.status_code == 200
        assert "Security events for webhooks" not in page.text
        saved = await web.submit("/o/acme/settings/security", {})
        assert saved.status_code == 303
        mia = web.other_browser()
        await accounts.login(mia, world.member.email)
        await change_password(mia)
    assert await queued(db) == []
    await db.refresh(org)
    assert org.security_events == ["security.password_changed", "security.policy_changed"]


async def test_the_settings_page_reads_the_choice_with_one_statement_more(
    world: World, ada: WebClient, app: Litestar
) -> None:
    from tests.auth.test_sessions import cost_of

    await opt_in(ada, "acme", list(SECURITY_EVENTS))
    status, cost = await cost_of(app, ada, "/o/acme/settings")
    assert status == 200
    assert len([s for s in cost.statements if "security_events" in s]) == 1
    assert len(cost.statements) <= 3, cost.statements


async def test_a_stolen_remember_me_cookie_is_reported_as_credential_reuse(
    world: World, ada: WebClient, accounts: Accounts, db: AsyncSession, app: Litestar, clock: FrozenClock
) -> None:
    """The theft is noticed before the request has a session of its own (the remember-me restore):
    it reaches the organization all the same."""
    await listen_everywhere(db, app, world.acme_id, world.owner)
    await opt_in(ada, "acme", ["security.credential_reuse"])
    mia = ada.other_browser()
    await accounts.login(mia, world.member.email, remember="on")
    stolen = mia.cookies["remember"]
    clock.advance(timedelta(hours=13))
    thief = mia.other_browser()
    thief.cookies.set("remember", stolen)
    assert (await thief.get("/settings/profile", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(minutes=1))
    assert (await mia.get("/settings/profile", follow_redirects=False)).status_code != 200
    [(kind, data)] = await queued(db)
    assert kind == "security.credential_reuse"
    assert data["action"] == "auth.remember.reuse_detected"
    assert data["user_id"] == str(world.member.id)
