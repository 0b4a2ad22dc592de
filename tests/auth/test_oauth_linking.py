"""Connected accounts: linking and unlinking under sudo, the last way in, provider tokens at rest,
and sudo through a provider [28][65][66][67].
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport as AppTransport
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.maintenance import purge_expired_rows
from app.auth.core.models import AuditEvent, OAuthFlow, OAuthIdentity, WebAuthnCredential
from app.auth.core.oauth.identities import provider_access_token
from app.auth.models import User
from tests.auth.oauth_fixtures import *  # noqa: F403 (the providers and the app using them)
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.oauth import at_provider, come_back, departure, query_of, signed_in, start, trip
from tests.support.oidc_provider import Person, Tenant
from tests.support.web import BASE_URL, WebClient

PAGE = "/settings/connected-accounts"


async def connect(web: WebClient, tenant: Tenant, key: str, person: Person) -> httpx.Response:
    """Press Connect for `key` (sudo must be fresh) and come back from the provider as `person`."""
    tenant.person = person
    started = await start(web, key, page=PAGE, path=f"{PAGE}/{key}/connect")
    assert started.status_code == 200, started.text[:300]
    assert departure(started).startswith(tenant.issuer), departure(started)
    answer = await at_provider(departure(started))
    return await come_back(web, answer.headers["location"])


async def provider_sudo(
    web: WebClient, tenant: Tenant, key: str, person: Person, next_path: str = PAGE
) -> httpx.Response:
    """Confirm it is you by signing in again at the provider (an account with no password)."""
    tenant.person = person
    page = await web.get(f"/sudo/provider?next={next_path}")
    assert f'action="/sudo/provider/{key}"' in page.text, page.text[:500]
    started = await web.submit(f"/sudo/provider/{key}", {"next": next_path})
    assert started.status_code == 200, started.text[:300]
    answer = await at_provider(departure(started))
    return await come_back(web, answer.headers["location"])


async def identities(db: AsyncSession) -> list[OAuthIdentity]:
    query = select(OAuthIdentity).order_by(OAuthIdentity.created_at).execution_options(populate_existing=True)
    return list(await db.scalars(query))


async def actions(db: AsyncSession, prefix: str = "auth.oauth.") -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.seq)
    return list(await db.scalars(query))


async def only_user(db: AsyncSession) -> User:
    user = await db.scalar(select(User).execution_options(populate_existing=True))
    assert user is not None
    return user


# --- linking [65]


async def test_connecting_a_provider_needs_sudo(
    web: WebClient, accounts: Accounts, clock: FrozenClock, alpha: Tenant
) -> None:
    await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    await web.get(PAGE)
    response = await web.submit(f"{PAGE}/alpha/connect")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sudo?next=")


async def test_a_signed_in_user_connects_a_provider_and_signs_in_with_it_later(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession, mailbox: Mailbox
) -> None:
    user = await accounts.create("ada@example.com")
    await accounts.login(web)
    response = await connect(web, alpha, "alpha", Person(sub="7", email="ada.l@example.org"))
    assert response.status_code == 303
    assert response.headers["location"] == PAGE
    page = await web.get(PAGE)
    assert "Alpha is connected" in page.text
    assert "ada.l@example.org" in page.text
    [identity] = await identities(db)
    assert (identity.user_id, identity.subject) == (user.id, "7")
    assert await actions(db) == ["auth.oauth.linked"]
    [notice] = await mailbox.wait_for(
        "ada@example.com", subject="Alpha was connected to your Gatehouse account"
    )
    assert "can now be used to sign in" in notice.text_body
    laptop = web.other_browser()
    signed = await trip(laptop, alpha, "alpha", Person(sub="7", email="someone-else@example.org"))
    assert signed.status_code == 303
    assert await signed_in(laptop)
    assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_the_account_exists_journey_ends_with_the_provider_connected(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession
) -> None:
    user = await accounts.create("ada@example.com")
    first = await trip(web, alpha, "alpha", Person(sub="9", email="ada@example.com"))
    assert first.headers["location"] == "/login/oauth/account-exists?provider=alpha"
    await web.get(first.headers["location"])
    await accounts.login(web, next=PAGE)
    linked = await connect(web, alpha, "alpha", Person(sub="9", email="ada@example.com"))
    assert linked.headers["location"] == PAGE
    await web.submit("/logout")
    again = await trip(web, alpha, "alpha", Person(sub="9", email="ada@example.com"))
    assert again.headers["location"] == "/dashboard"
    assert await signed_in(web)
    [identity] = await identities(db)
    assert identity.user_id == user.id


async def test_an_identity_connected_to_another_account_cannot_be_connected_again(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession
) -> None:
    await trip(web.other_browser(), alpha, "alpha", Person(sub="1", email="first@example.com"))
    await accounts.create("second@example.com")
    await accounts.login(web, "second@example.com")
    response = await connect(web, alpha, "alpha", Person(sub="1", email="first@example.com"))
    assert response.status_code == 400
    assert "already connected to another account" in response.text
    assert len(await identities(db)) == 1


async def test_a_second_account_at_the_same_provider_is_refused(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web)
    await connect(web, alpha, "alpha", Person(sub="1"))
    response = await connect(web, alpha, "alpha", Person(sub="2"))
    assert response.status_code == 400
    assert "Disconnect it first" in response.text
    assert [i.subject for i in await identities(db)] == ["1"]


async def test_connecting_finishes_only_for_the_user_who_started_it(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession
) -> None:
    await accounts.create("ada@example.com")
    await accounts.create("bob@example.com")
    await accounts.login(web, "ada@example.com")
    alpha.person = Person(sub="1")
    started = await start(web, "alpha", page=PAGE, path=f"{PAGE}/alpha/connect")
    answer = await at_provider(departure(started))
    await web.submit("/logout")
    await accounts.login(web, "bob@example.com")
    response = await come_back(web, answer.headers["location"])
    assert response.status_code == 400
    assert await identities(db) == []


# --- unlinking and the last way in [65]


async def test_disconnecting_needs_sudo(
    web: WebClient, accounts: Accounts, alpha: Tenant, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web)
    await connect(web, alpha, "alpha", Person(sub="1"))
    [identity] = await identities(db)
    clock.advance(timedelta(minutes=16))
    response = await web.submit(f"{PAGE}/{identity.id}/disconnect")
    assert response.headers["location"].startswith("/sudo?next=")
    assert len(await identities(db)) == 1


async def test_a_password_account_may_disconnect_its_provider(
    web: WebClient, accounts: Accounts, alpha: Tenant, db: AsyncSession, mailbox: Mailbox
) -> None:
    await accounts.create()
    await accounts.login(web)
    await connect(web, alpha, "alpha", Person(sub="1"))
    [identity] = await identities(db)
    response = await web.submit(f"{PAGE}/{identity.id}/disconnect")
    assert response.headers["location"] == PAGE
    assert await identities(db) == []
    assert await actions(db) == ["auth.oauth.linked", "auth.oauth.unlinked"]
    await mailbox.wait_for("ada@example.com", subject="Alpha was disconnected from your Gatehouse account")
    refused = await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))
    assert refused.headers["location"] == "/login/oauth/account-exists?provider=alpha"


async def test_the_last_way_in_cannot_be_disconnected(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    sudo = await provider_sudo(web, alpha, "alpha", Person(sub="1"))
    assert sudo.status_code == 303
    [identity] = await identities(db)
    page = await web.get(PAGE)
    assert "Your only way to sign in" in page.text
    assert f"/{identity.id}/disconnect" not in page.text
    response = await web.submit(f"{PAGE}/{identity.id}/disconnect")
    assert response.headers["location"] == PAGE
    assert "cannot be disconnected" in (await web.get(PAGE)).text
    assert len(await identities(db)) == 1
    assert (await actions(db))[-1] == "auth.oauth.unlink_refused"
    user = await only_user(db)
    db.add(WebAuthnCredential(user_id=user.id, credential_id=b"c" * 16, public_key=b"k", name="Laptop"))
    await db.commit()
    await web.submit(f"{PAGE}/{identity.id}/disconnect")
    assert await identities(db) == [], "with a passkey, the provider is no longer the last way in"


async def test_two_disconnects_at_once_leave_one_way_in(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    await provider_sudo(web, alpha, "alpha", Person(sub="1"))
    await connect(web, beta, "beta", Person(sub="1"))
    first, second = await identities(db)
    await web.get(PAGE)

    def send(path: str) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in web.jar.items())
        headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", "cookie": cookie}
        request = web.client.build_request(
            "POST", path, data={"_csrf_token": web.csrf_token or ""}, headers=headers
        )
        response = AppTransport(web.client).handle_request(request)
        response.read()
        return response

    paths = [f"{PAGE}/{first.id}/disconnect", f"{PAGE}/{second.id}/disconnect"]
    answers = await asyncio.gather(*(asyncio.to_thread(send, path) for path in paths))
    assert [answer.status_code for answer in answers] == [303, 303]
    assert len(await identities(db)) == 1
    assert sorted(await actions(db, "auth.oauth.unlink")) == [
        "auth.oauth.unlink_refused",
        "auth.oauth.unlinked",
    ]


# --- provider tokens at rest [66]


async def test_tokens_are_not_kept_unless_the_provider_is_configured_to(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    [identity] = await identities(db)
    assert identity.access_token_sealed is None
    assert identity.refresh_token_sealed is None


async def test_kept_tokens_are_sealed_and_open_only_in_their_own_row(
    oauth_app: Any, alpha: Tenant, db: AsyncSession
) -> None:
    app: Litestar = oauth_app(store_tokens=True)
    security = app.state.security
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        await trip(WebClient(client), alpha, "alpha", Person(sub="1", email="ada@example.com"))
        await trip(WebClient(client), alpha, "alpha", Person(sub="2", email="bob@example.com"))
    ada, bob = await identities(db)
    raw = await db.execute(select(OAuthIdentity.access_token_sealed, OAuthIdentity.refresh_token_sealed))
    issued = set(alpha.access_tokens) | set(alpha.refresh_tokens)
    for sealed_access, sealed_refresh in raw:
        assert sealed_access
        assert sealed_refresh
        assert not any(token in sealed_access or token in sealed_refresh for token in issued)
    ada_token = await provider_access_token(db, security, ada)
    assert ada_token in alpha.access_tokens
    assert alpha.access_tokens[ada_token].sub == "1"
    bob.access_token_sealed, bob.refresh_token_sealed = ada.access_token_sealed, ada.refresh_token_sealed
    assert await provider_access_token(db, security, bob) is None, "Ada's token does not open as Bob's"
    assert bob.access_token_sealed is None, "the link's tokens are dropped as broken"


async def test_an_expired_access_token_is_refreshed_on_demand(
    oauth_app: Any, alpha: Tenant, db: AsyncSession, clock: FrozenClock
) -> None:
    app: Litestar = oauth_app(store_tokens=True)
    security = app.state.security
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        await trip(WebClient(client), alpha, "alpha", Person(sub="1"))
        [identity] = await identities(db)
        first = await provider_access_token(db, security, identity)
        clock.advance(timedelta(hours=1))
        fresh = await provider_access_token(db, security, identity)
        await db.commit()
    assert first is not None
    assert fresh is not None
    assert fresh != first
    assert alpha.token_requests[-1]["grant_type"] == "refresh_token"
    [identity] = await identities(db)
    assert identity.token_expires_at is not None
    assert identity.token_expires_at > clock.now()


async def test_disconnecting_removes_the_kept_tokens(
    oauth_app: Any, accounts: Accounts, alpha: Tenant, db: AsyncSession
) -> None:
    app: Litestar = oauth_app(store_tokens=True)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await accounts.create()
        await accounts.login(web)
        await connect(web, alpha, "alpha", Person(sub="1"))
        [identity] = await identities(db)
        assert identity.access_token_sealed is not None
        await web.submit(f"{PAGE}/{identity.id}/disconnect")
    remaining = await db.scalar(select(func.count()).where(OAuthIdentity.access_token_sealed.is_not(None)))
    assert remaining == 0
    assert await identities(db) == []


# --- sudo through a provider [28][67]


async def test_an_account_whose_only_way_in_is_a_provider_confirms_sudo_there(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    await web.get(PAGE)
    refused = await web.submit(f"{PAGE}/beta/connect", headers={"referer": f"{BASE_URL}{PAGE}"})
    assert refused.headers["location"] == f"/sudo?next={PAGE}"
    sudo_page = await web.get(refused.headers["location"])
    assert f'href="/sudo/provider?next={PAGE}"' in sudo_page.text.replace("%2F", "/")
    alpha.person = Person(sub="1")
    await web.get(f"/sudo/provider?next={PAGE}")
    started = await web.submit("/sudo/provider/alpha", {"next": PAGE})
    params = query_of(departure(started))
    assert (params["prompt"], params["max_age"]) == ("login", "0"), "the provider must ask again"
    answer = await at_provider(departure(started))
    kept = await come_back(web, answer.headers["location"])
    assert kept.status_code == 200
    assert f'action="{PAGE}/beta/connect" data-autosubmit' in kept.text, "the interrupted form goes on"
    granted = await db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sudo.granted"))
    assert granted is not None
    assert granted.details["method"] == "oauth:alpha"
    assert (await connect(web, beta, "beta", Person(sub="1"))).headers["location"] == PAGE


async def test_sudo_through_a_provider_needs_a_fresh_sign_in_there(web: WebClient, alpha: Tenant) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    alpha.tamper = {"claims": {"auth_time": lambda now: now - 3600}}
    response = await provider_sudo(web, alpha, "alpha", Person(sub="1"))
    assert response.status_code == 400
    assert "did not ask you to sign in again" in response.text
    await web.get(PAGE)
    assert (await web.submit(f"{PAGE}/beta/connect")).headers["location"].startswith("/sudo")


async def test_sudo_through_a_provider_with_another_identity_is_refused(
    web: WebClient, alpha: Tenant
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    response = await provider_sudo(web, alpha, "alpha", Person(sub="2", email="other@example.com"))
    assert response.status_code == 400
    assert "not connected to your account" in response.text


async def test_sudo_through_a_provider_is_not_for_accounts_with_a_stronger_factor(
    web: WebClient, accounts: Accounts, alpha: Tenant
) -> None:
    await accounts.create()
    await accounts.login(web)
    await connect(web, alpha, "alpha", Person(sub="1"))
    assert "Confirm with your connected account" not in (await web.get("/sudo?next=/settings")).text
    await web.get("/sudo/provider")
    response = await web.submit("/sudo/provider/alpha", {"next": PAGE})
    assert response.status_code == 400
    assert "password or passkey instead" in response.text


async def test_a_provider_sign_in_does_not_count_for_sudo(web: WebClient, alpha: Tenant) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    await web.get(PAGE)
    response = await web.submit(f"{PAGE}/beta/connect")
    assert response.headers["location"].startswith("/sudo")


# --- the page


async def test_the_page_lists_connections_and_offers_the_others(web: WebClient, alpha: Tenant) -> None:
    await trip(web, alpha, "alpha", Person(sub="1", email="ada@example.com"))
    page = await web.get(PAGE)
    assert page.status_code == 200
    assert 'aria-current="page">Connected accounts' in page.text
    assert "ada@example.com" in page.text
    assert f'action="{PAGE}/beta/connect"' in page.text
    assert f'action="{PAGE}/github/connect"' in page.text
    assert f'action="{PAGE}/alpha/connect"' not in page.text


async def test_the_connected_accounts_page_costs_two_statements(
    web: WebClient, app: Litestar, alpha: Tenant
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    status, cost = await cost_of(app, web, PAGE)
    assert status == 200
    assert len(cost.statements) == 2, cost.statements  # resume, then identities and passkeys at once
    assert cost.most_at_once == 1


async def test_finished_and_abandoned_trips_leave_nothing_behind(
    web: WebClient, app: Litestar, alpha: Tenant, db: AsyncSession, clock: FrozenClock, engine: AsyncEngine
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    assert await db.scalar(select(func.count()).select_from(OAuthFlow)) == 0, "a finished trip is spent"
    await start(web.other_browser(), "alpha")
    clock.advance(timedelta(minutes=11))
    deleted = await purge_expired_rows(engine, clock, app.state.security.policy)
    assert deleted["oauth_flows"] == 1


async def test_a_connection_to_a_provider_no_longer_configured_is_no_way_in(
    oauth_app: Any, alpha: Tenant, beta: Tenant, db: AsyncSession, database_url: str, clock: FrozenClock
) -> None:
    from app.asgi import create_app
    from tests.support.database import make_settings

    async with AsyncTestClient(app=oauth_app(), base_url=BASE_URL) as client:
        web = WebClient(client)
        await trip(web, alpha, "alpha", Person(sub="1"))
        await provider_sudo(web, alpha, "alpha", Person(sub="1"))
        await connect(web, beta, "beta", Person(sub="1"))
    # Beta is taken out of the configuration: only Alpha can still sign this account in.
    only_alpha = make_settings(database_url, oauth_providers=[alpha.setting("alpha")])
    async with AsyncTestClient(app=create_app(only_alpha, clock=clock), base_url=BASE_URL) as client:
        web = WebClient(client)
        await trip(web, alpha, "alpha", Person(sub="1"))
        await provider_sudo(web, alpha, "alpha", Person(sub="1"))
        alpha_identity = next(i for i in await identities(db) if i.provider == "alpha")
        await web.get(PAGE)
        await web.submit(f"{PAGE}/{alpha_identity.id}/disconnect")
    assert len(await identities(db)) == 2, "Alpha stays: Beta can no longer sign anyone in"
