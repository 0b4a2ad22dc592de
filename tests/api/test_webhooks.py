"""Webhooks: signed deliveries to a real local server, verified with the docs' snippet; retries,
auto-disable, rotation, redelivery and the SSRF rules."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.api.webhooks import retry_webhooks
from app.auth.core.clock import FrozenClock
from app.auth.core.models import WebhookDelivery, WebhookEndpoint
from app.auth.core.webhooks import UnsafeDestinationError, post_signed, resolve_destination
from app.jobs import job_cipher
from tests.api.receiver import SECRET, Receiver, add_endpoint, receiver_snippet
from tests.api.support import World, bearer, build_world, create_token
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


async def deliveries(db: AsyncSession) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery).execution_options(populate_existing=True).order_by(WebhookDelivery.created_at)
    )
    return list((await db.scalars(query)).all())


@pytest.fixture
async def admin(world: World, accounts: Accounts, web: WebClient) -> WebClient:
    await accounts.login(web, world.admin.email)
    return web


async def test_a_delivery_reaches_a_real_server_and_verifies_with_the_documented_snippet(
    admin: WebClient, receiver: Receiver
) -> None:
    secret = await add_endpoint(admin, receiver.url, ["project.created"])
    token = await create_token(admin, scopes=("projects:write",))
    made = await admin.other_browser().request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Hooked"}, headers=bearer(token)
    )
    assert made.status_code == 201
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    verify_webhook = receiver_snippet()
    assert verify_webhook(secret, headers, body)
    assert not verify_webhook(secret, headers, body.replace(b"Hooked", b"Hacked"))
    assert not verify_webhook("whsec_" + "A" * 44, headers, body)
    payload = json.loads(body)
    assert payload["type"] == "project.created"
    assert payload["data"]["name"] == "Hooked"


async def test_only_chosen_events_are_sent(admin: WebClient, receiver: Receiver, db: AsyncSession) -> None:
    await add_endpoint(admin, receiver.url, ["project.deleted"])
    token = await create_token(admin, scopes=("projects:write",))
    api = admin.other_browser()
    made = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Quiet"}, headers=bearer(token)
    )
    assert await deliveries(db) == []
    await api.request("DELETE", made.headers["location"], headers=bearer(token))
    await receiver.wait_for(1)
    assert json.loads(receiver.received[0][1])["type"] == "project.deleted"


async def test_a_failed_delivery_backs_off_and_is_logged(
    admin: WebClient, receiver: Receiver, db: AsyncSession, clock: FrozenClock, app: Litestar
) -> None:
    receiver.status = 500
    await add_endpoint(admin, receiver.url, ["project.created"])
    token = await create_token(admin, scopes=("projects:write",))
    await admin.other_browser().request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "X"}, headers=bearer(token)
    )
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    [delivery] = await deliveries(db)
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.next_attempt_at == clock.now() + timedelta(minutes=1)
    settings = app.state.settings
    engine = create_async_engine(settings.sqlalchemy_url)
    ctx = {
        "engine": engine,
        "cipher": job_cipher(settings),
        "settings": settings,
        "security": app.state.security,
    }
    try:
        assert await retry_webhooks(ctx) == 0  # not due yet
        clock.advance(timedelta(minutes=1))
        assert await retry_webhooks(ctx) == 1
    finally:
        await engine.dispose()
    [delivery] = await deliveries(db)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == clock.now() + timedelta(minutes=5)
    page = await admin.get(f"/o/acme/webhooks/{delivery.endpoint_id}")
    assert delivery.event_id in page.text
    assert "500" in page.text


async def test_an_endpoint_failing_for_days_is_turned_off_and_admins_are_mailed(
    world: World,
    admin: WebClient,
    receiver: Receiver,
    db: AsyncSession,
    clock: FrozenClock,
    app: Litestar,
    mailbox: Mailbox,
) -> None:
    receiver.status = 503
    await add_endpoint(admin, receiver.url, ["project.created"])
    token = await create_token(admin, scopes=("projects:write",))
    api = admin.other_browser()
    await api.request("POST", "/api/v1/orgs/acme/projects", json={"name": "A"}, headers=bearer(token))
    await receiver.wait_for(1)
    clock.advance(timedelta(days=3))
    await api.request("POST", "/api/v1/orgs/acme/projects", json={"name": "B"}, headers=bearer(token))
    await receiver.wait_for(2)
    await asyncio.sleep(0.3)
    endpoint = await db.scalar(select(WebhookEndpoint).execution_options(populate_existing=True))
    assert endpoint is not None
    assert endpoint.enabled is False
    await mailbox.wait_for(world.owner.email, subject="A Gatehouse webhook endpoint was turned off")
    await mailbox.wait_for(world.admin.email, subject="A Gatehouse webhook endpoint was turned off")
    await api.request("POST", "/api/v1/orgs/acme/projects", json={"name": "C"}, headers=bearer(token))
    assert len(await deliveries(db)) == 2  # a disabled endpoint gets nothing new


async def test_a_rotated_secret_and_the_old_one_both_verify_for_a_while(
    admin: WebClient, receiver: Receiver, db: AsyncSession, clock: FrozenClock
) -> None:
    old = await add_endpoint(admin, receiver.url, ["project.created"])
    endpoint = await db.scalar(select(WebhookEndpoint))
    assert endpoint is not None
    await admin.get(f"/o/acme/webhooks/{endpoint.id}")
    rotated = await admin.submit(f"/o/acme/webhooks/{endpoint.id}/rotate")
    match = SECRET.search(rotated.text)
    assert match is not None
    new = match.group(1)
    token = await create_token(admin, scopes=("projects:write",))
    await admin.other_browser().request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "R"}, headers=bearer(token)
    )
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    verify_webhook = receiver_snippet()
    assert verify_webhook(new, headers, body)
    assert verify_webhook(old, headers, body)
    assert len(headers["webhook-signature"].split()) == 2


async def test_redeliver_sends_the_same_event_again(
    admin: WebClient, receiver: Receiver, db: AsyncSession
) -> None:
    await add_endpoint(admin, receiver.url, ["project.created"])
    token = await create_token(admin, scopes=("projects:write",))
    await admin.other_browser().request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Twice"}, headers=bearer(token)
    )
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    [delivery] = await deliveries(db)
    await admin.get(f"/o/acme/webhooks/{delivery.endpoint_id}")
    answer = await admin.submit(f"/o/acme/webhooks/{delivery.endpoint_id}/deliveries/{delivery.id}/redeliver")
    assert answer.status_code == 303
    await receiver.wait_for(2)
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]


async def test_members_without_org_settings_cannot_see_webhooks(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await accounts.login(web, world.member.email)
    assert (await web.get("/o/acme/webhooks")).status_code == 403


# --- SSRF


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
async def test_webhooks_never_go_to_internal_addresses(url: str) -> None:
    with pytest.raises(UnsafeDestinationError):
        await resolve_destination(url, require_https=False)


async def test_production_requires_https() -> None:
    with pytest.raises(UnsafeDestinationError):
        await resolve_destination("http://93.184.215.14/x", require_https=True)
    destination = await resolve_destination("https://93.184.215.14:8443/x", require_https=True)
    assert destination.url == "https://93.184.215.14:8443/x"


async def test_loopback_is_allowed_only_when_the_test_setting_says_so(receiver: Receiver) -> None:
    refused = await post_signed(
        receiver.url, ["whsec_" + "A" * 44], "msg_1", b"{}", timestamp=0, require_https=False
    )
    assert refused.status_code is None
    assert receiver.received == []
    allowed = await post_signed(
        receiver.url,
        ["whsec_" + "A" * 44],
        "msg_1",
        b"{}",
        timestamp=0,
        require_https=False,
        allow_loopback=True,
    )
    assert allowed.succeeded


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.status = 302
    receiver.location = "http://169.254.169.254/latest/meta-data/"
    attempt = await post_signed(
        receiver.url,
        ["whsec_" + "A" * 44],
        "msg_1",
        b"{}",
        timestamp=0,
        require_https=False,
        allow_loopback=True,
    )
    assert attempt.status_code == 302
    assert not attempt.succeeded
    assert len(receiver.received) == 1


def test_loopback_webhooks_are_refused_outside_tests() -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, app_env="dev", webhook_allow_loopback=True)  # type: ignore[call-arg]


# --- cost of the pages


async def test_the_webhook_pages_cost_the_same_for_few_or_many_rows(
    admin: WebClient, receiver: Receiver, db: AsyncSession, app: Litestar
) -> None:
    from tests.auth.test_sessions import cost_of

    await add_endpoint(admin, receiver.url, ["project.created"])
    endpoint = await db.scalar(select(WebhookEndpoint))
    assert endpoint is not None
    status, few_list = await cost_of(app, admin, "/o/acme/webhooks")
    status, few_log = await cost_of(app, admin, f"/o/acme/webhooks/{endpoint.id}")
    for n in range(3):
        await add_endpoint(admin, f"{receiver.url}/{n}", ["project.created"])
    token = await create_token(admin, scopes=("projects:write",))
    for n in range(3):
        await admin.other_browser().request(
            "POST", "/api/v1/orgs/acme/projects", json={"name": f"P{n}"}, headers=bearer(token)
        )
    status, many_list = await cost_of(app, admin, "/o/acme/webhooks")
    status, many_log = await cost_of(app, admin, f"/o/acme/webhooks/{endpoint.id}")
    assert status == 200
    assert len(many_list.statements) == len(few_list.statements) <= 3
    assert len(many_log.statements) == len(few_log.statements) <= 4


async def test_a_project_made_on_its_page_is_announced_too(admin: WebClient, receiver: Receiver) -> None:
    await add_endpoint(admin, receiver.url, ["project.created"])
    await admin.get("/o/acme/projects/new")
    made = await admin.submit("/o/acme/projects", {"name": "From the page", "summary": ""})
    assert made.status_code == 303
    await receiver.wait_for(1)
    payload = json.loads(receiver.received[0][1])
    assert payload["type"] == "project.created"
    assert payload["data"]["name"] == "From the page"
