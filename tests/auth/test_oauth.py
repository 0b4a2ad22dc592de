"""Signing in and up through identity providers, and every attack on the trip [15][59]-[64][67].

A real provider answers over HTTP (`tests/support/oidc_provider.py`): the app fetches its discovery
document and keys, redeems codes with PKCE and checks ID tokens exactly as it would in production.
Linking, unlinking, tokens and sudo are in `test_oauth_linking.py`.
"""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, AuthSession, OAuthFlow, OAuthIdentity
from app.auth.models import User
from app.models import metadata
from tests.auth.oauth_fixtures import *  # noqa: F403 (the providers and the app using them)
from tests.support.accounts import Accounts
from tests.support.oauth import (
    at_provider,
    come_back,
    departure,
    landing_fields,
    local,
    query_of,
    signed_in,
    start,
    trip,
)
from tests.support.oidc_provider import IdentityProviderServer, Person, Tenant
from tests.support.web import BASE_URL, WebClient


async def count(db: AsyncSession, model: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def failures(db: AsyncSession) -> list[dict[str, Any]]:
    """The details of every `auth.oauth.failed` event, oldest first."""
    events = await db.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.oauth.failed").order_by(AuditEvent.seq)
    )
    return [event.details for event in events]


def refused(response: httpx.Response, status: int = 400) -> None:
    """The one problem page, with its way back."""
    assert response.status_code == status, response.text[:500]
    assert "That did not work" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


# --- configured providers, the request to the provider, the answer's landing


async def test_configured_providers_appear_on_sign_in_and_registration(web: WebClient) -> None:
    for page in ("/login", "/register"):
        text = (await web.get(page)).text
        assert 'action="/auth/oauth/alpha/start"' in text
        assert "Continue with Beta" in text
        assert "Continue with GitHub" in text


async def test_the_authorization_request_uses_pkce_s256_state_nonce_and_the_configured_redirect_uri(
    web: WebClient, alpha: Tenant
) -> None:
    started = await start(web, "alpha")
    assert started.status_code == 200
    url = departure(started)
    assert url.startswith(f"{alpha.issuer}/authorize?")
    params = query_of(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == "gatehouse"
    assert params["redirect_uri"] == f"{BASE_URL}/auth/oauth/alpha/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43  # 256 random bits, URL-safe base64
    assert len(params["nonce"]) >= 43
    assert "openid" in params["scope"].split()
    alpha.person = Person(sub="1")
    answer = await at_provider(url)
    await come_back(web, answer.headers["location"])
    [token_request] = alpha.token_requests
    verifier = token_request["code_verifier"]
    assert 43 <= len(verifier) <= 128
    challenge = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert challenge == params["code_challenge"]
    assert token_request["redirect_uri"] == params["redirect_uri"]


async def test_the_redirect_uri_comes_from_base_url_never_from_the_host_header(web: WebClient) -> None:
    await web.get("/login", headers={"host": "localhost"})
    started = await web.submit("/auth/oauth/alpha/start", headers={"host": "localhost"})
    assert started.status_code == 200
    assert query_of(departure(started))["redirect_uri"] == f"{BASE_URL}/auth/oauth/alpha/callback"


async def test_the_landing_page_changes_nothing_and_hands_the_answer_on_in_a_post(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    before = [await count(db, table) for table in metadata.sorted_tables]
    landing = await web.get(local(answer.headers["location"]))
    assert [await count(db, table) for table in metadata.sorted_tables] == before
    assert landing.status_code == 200
    assert landing.headers["referrer-policy"] == "no-referrer"
    assert landing.headers["cache-control"] == "no-store"
    assert 'method="post" action="/auth/oauth/alpha/callback" data-autosubmit' in landing.text
    assert set(landing_fields(landing)) == {"code", "state", "iss"}
    assert alpha.token_requests == [], "the GET made no token request"


async def test_an_unknown_provider_and_garbage_answers_never_get_a_server_error(web: WebClient) -> None:
    assert (await web.get("/auth/oauth/nobody/callback?code=x&state=y")).status_code == 404
    assert (await web.get("/login/oauth/account-exists?provider=nobody")).status_code == 404
    for query in (
        "",
        "?state=%00%ff",
        "?code=" + "x" * 5000,
        "?state=a&state=b",
        "?error=%3Cscript%3E",
        "?iss[]=1",
    ):
        assert (await web.get(f"/auth/oauth/alpha/callback{query}")).status_code < 500, query
        landing = await web.get(f"/auth/oauth/alpha/callback{query}")
        posted = await web.submit("/auth/oauth/alpha/callback", landing_fields(landing))
        assert posted.status_code == 400, query


# --- signing up and signing in


async def test_signing_up_with_a_verified_email_makes_a_confirmed_account_without_a_password(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    response = await trip(web, alpha, "alpha", Person(sub="1", email="ada@example.com"))
    assert response.status_code == 303, response.text[:500]
    assert response.headers["location"] == "/dashboard"
    user = await db.scalar(select(User))
    assert user is not None
    assert user.email == "ada@example.com"
    assert user.confirmed_at is not None
    assert user.password_hash is None
    identity = await db.scalar(select(OAuthIdentity))
    assert identity is not None
    assert (identity.user_id, identity.issuer, identity.subject) == (user.id, alpha.issuer, "1")
    assert identity.email_verified
    session = await db.scalar(select(AuthSession))
    assert session is not None
    assert session.kind == "oauth"
    assert session.authenticated_at is None, "a provider sign-in never counts for sudo"
    assert await signed_in(web)
    actions = list(await db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-2:] == ["auth.oauth.account_created", "auth.login.succeeded"]


@pytest.mark.parametrize("verified", [False, None], ids=["unverified", "not-said"])
async def test_an_address_the_provider_did_not_verify_makes_no_account(
    web: WebClient, alpha: Tenant, db: AsyncSession, verified: bool | None
) -> None:
    response = await trip(web, alpha, "alpha", Person(sub="1", email_verified=verified))
    refused(response)
    assert "did not give us a verified email address" in response.text
    assert await count(db, User) == 0
    assert await count(db, OAuthIdentity) == 0
    assert [f["reason"] for f in await failures(db)] == ["no_verified_email"]


async def test_signing_in_again_finds_the_account_by_issuer_and_subject_not_by_email(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1", email="ada@example.com"))
    again = web.other_browser()
    response = await trip(again, alpha, "alpha", Person(sub="1", email="lovelace@example.org"))
    assert response.status_code == 303
    assert await count(db, User) == 1
    identity = await db.scalar(select(OAuthIdentity).execution_options(populate_existing=True))
    assert identity is not None
    assert identity.email == "lovelace@example.org", "what the provider says now, for display"
    user = await db.scalar(select(User))
    assert user is not None
    assert user.email == "ada@example.com", "the account's own address is not the provider's to change"


async def test_a_second_provider_asserting_an_existing_accounts_email_does_not_sign_in_to_it(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1", email="ada@example.com"))
    stranger = web.other_browser()
    response = await trip(stranger, beta, "beta", Person(sub="1", email="ada@example.com"))
    assert response.status_code == 303
    assert response.headers["location"] == "/login/oauth/account-exists?provider=beta"
    page = await stranger.get(response.headers["location"])
    assert "You already have an account" in page.text
    assert "Sign in to your account" in page.text
    assert "/login?next=/settings/connected-accounts" in page.text
    assert not await signed_in(stranger)
    assert await count(db, OAuthIdentity) == 1, "beta's identity was not linked"
    assert await count(db, AuthSession) == 1, "only the first browser is signed in"


async def test_a_provider_asserting_a_password_accounts_email_gets_sign_in_first(
    web: WebClient, alpha: Tenant, accounts: Accounts, db: AsyncSession
) -> None:
    await accounts.create("ada@example.com")
    response = await trip(web, alpha, "alpha", Person(sub="1", email="ADA@example.com"))
    assert response.headers["location"] == "/login/oauth/account-exists?provider=alpha"
    assert not await signed_in(web)
    assert await count(db, OAuthIdentity) == 0
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.oauth.account_exists"))
    assert event is not None


async def test_signing_up_claims_an_unconfirmed_registration_and_drops_what_it_left(
    web: WebClient, alpha: Tenant, accounts: Accounts, db: AsyncSession
) -> None:
    squatter = await accounts.create("ada@example.com", password_hash="$argon2id$planted", confirmed=False)
    response = await trip(web, alpha, "alpha", Person(sub="1", email="ada@example.com"))
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    user = await db.scalar(select(User).execution_options(populate_existing=True))
    assert user is not None
    assert user.id == squatter.id
    assert user.confirmed_at is not None
    assert user.password_hash is None, "nothing the registrant chose survives"


async def test_a_disabled_account_cannot_sign_in_through_its_provider(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    user = await db.scalar(select(User))
    assert user is not None
    user.is_active = False
    await db.commit()
    response = await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))
    refused(response)
    assert [f["reason"] for f in await failures(db)] == ["account_unavailable"]


async def test_the_next_page_is_kept_through_the_trip(web: WebClient, alpha: Tenant) -> None:
    response = await trip(
        web, alpha, "alpha", Person(sub="1"), page="/login?next=/settings/sessions", next="/settings/sessions"
    )
    assert response.headers["location"] == "/settings/sessions"
    elsewhere = await trip(web.other_browser(), alpha, "alpha", Person(sub="1"), next="//evil.example")
    assert elsewhere.headers["location"] == "/dashboard"


async def test_github_signs_up_with_its_verified_primary_address(
    web: WebClient, hub: Tenant, db: AsyncSession
) -> None:
    response = await trip(web, hub, "github", Person(sub="4242", email="ada@example.com"))
    assert response.status_code == 303, response.text[:300]
    identity = await db.scalar(select(OAuthIdentity))
    assert identity is not None
    assert (identity.issuer, identity.subject, identity.provider) == (hub.issuer, "4242", "github")
    assert "code_verifier" in hub.token_requests[0], "PKCE for GitHub too"


async def test_github_counts_only_a_verified_primary_address(
    web: WebClient, hub: Tenant, db: AsyncSession
) -> None:
    hub.github_emails = [
        {"email": "ada@example.com", "primary": True, "verified": False},
        {"email": "ada@work.example", "primary": False, "verified": True},
    ]
    response = await trip(web, hub, "github", Person(sub="4242"))
    refused(response)
    assert await count(db, User) == 0


# --- the second factor [15][67]


async def test_an_mfa_enrolled_account_stops_at_the_second_step(
    web: WebClient, alpha: Tenant, accounts: Accounts, db: AsyncSession
) -> None:
    await trip(web, alpha, "alpha", Person(sub="1"))
    user = await db.scalar(select(User))
    assert user is not None
    secret = await accounts.enrol_totp(user)
    browser = web.other_browser()
    response = await trip(browser, alpha, "alpha", Person(sub="1", amr=["pwd", "mfa"]))
    assert response.status_code == 303
    assert response.headers["location"] == "/login/two-factor"
    assert not await signed_in(browser)
    await browser.get("/login/two-factor")
    done = await browser.submit("/login/two-factor", {"code": accounts.totp_code(secret)})
    assert done.status_code == 303
    assert await signed_in(browser)


async def test_a_trusted_providers_fresh_mfa_stands_in_for_the_second_step(
    oauth_app: Any, alpha: Tenant, accounts: Accounts, db: AsyncSession
) -> None:
    from litestar.testing import AsyncTestClient

    app: Litestar = oauth_app(trust_amr=True)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await trip(web, alpha, "alpha", Person(sub="1"))
        user = await db.scalar(select(User))
        assert user is not None
        await accounts.enrol_totp(user)
        without = await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))
        assert without.headers["location"] == "/login/two-factor", "no amr: the local second factor"
        stale = web.other_browser()
        alpha.tamper = {"claims": {"auth_time": lambda now: now - 3600}}
        old = await trip(stale, alpha, "alpha", Person(sub="1", amr=["pwd", "mfa"]))
        assert old.headers["location"] == "/login/two-factor", "an old sign-in at the provider is not now"
        alpha.tamper = {}
        browser = web.other_browser()
        fresh = await trip(browser, alpha, "alpha", Person(sub="1", amr=["pwd", "mfa"]))
        assert fresh.headers["location"] == "/dashboard"
        assert await signed_in(browser)


# --- the trip cannot be replayed, moved to another browser, or outlive its time [60]


async def test_a_replayed_answer_is_refused_without_a_token_request(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    landing = await web.get(local(answer.headers["location"]))
    fields = landing_fields(landing)
    first = await web.submit("/auth/oauth/alpha/callback", fields)
    assert first.status_code == 303
    replay = await web.submit("/auth/oauth/alpha/callback", fields)
    refused(replay)
    assert len(alpha.token_requests) == 1
    assert [f["reason"] for f in await failures(db)] == ["bad_state"]


async def test_an_answer_without_state_is_refused_without_a_token_request(
    web: WebClient, alpha: Tenant
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    fields = landing_fields(await web.get(local(answer.headers["location"])))
    del fields["state"]
    refused(await web.submit("/auth/oauth/alpha/callback", fields))
    assert alpha.token_requests == []


async def test_login_csrf_an_attackers_answer_in_the_victims_browser_signs_nobody_in(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    attacker = web.other_browser()
    alpha.person = Person(sub="attacker", email="mallory@example.com")
    answer = await at_provider(departure(await start(attacker, "alpha")))
    # The attacker stops before the callback and makes the victim's browser open it instead.
    victim = web
    response = await come_back(victim, answer.headers["location"])
    refused(response)
    assert not await signed_in(victim)
    assert await count(db, User) == 0
    assert alpha.token_requests == [], "refused before the code was ever redeemed"
    assert [f["reason"] for f in await failures(db)] == ["other_browser"]


async def test_an_expired_trip_is_refused(
    web: WebClient, alpha: Tenant, clock: FrozenClock, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    clock.advance(timedelta(minutes=10, seconds=1))
    refused(await come_back(web, answer.headers["location"]))
    assert alpha.token_requests == []
    assert [f["reason"] for f in await failures(db)] == ["expired"]


async def test_the_person_saying_no_lands_on_the_problem_page_and_is_audited(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.deny = True
    answer = await at_provider(departure(await start(web, "alpha")))
    response = await come_back(web, answer.headers["location"])
    refused(response)
    assert "You did not allow Alpha to sign you in" in response.text
    assert 'href="/login"' in response.text
    assert [(f["reason"], f["error"]) for f in await failures(db)] == [("denied", "access_denied")]


async def test_a_provider_that_is_down_lands_on_the_problem_page(
    web: WebClient, idp: IdentityProviderServer, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    idp.stop()
    response = await come_back(web, answer.headers["location"])
    refused(response, 502)
    assert "Alpha could not be reached" in response.text
    fresh = web.other_browser()
    refused(await start(fresh, "beta"), 502)  # its discovery document cannot be had either
    assert [f["reason"] for f in await failures(db)] == ["unreachable", "unreachable"]
    assert await count(db, User) == 0


# --- stolen codes and PKCE [59]


async def test_a_stolen_code_redeemed_in_another_trip_fails_pkce(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.person = Person(sub="victim")
    victims_answer = await at_provider(departure(await start(web, "alpha")))
    stolen_code = query_of(victims_answer.headers["location"])["code"]
    attacker = web.other_browser()
    alpha.person = Person(sub="attacker")
    attackers_answer = await at_provider(departure(await start(attacker, "alpha")))
    fields = landing_fields(await attacker.get(local(attackers_answer.headers["location"])))
    response = await attacker.submit("/auth/oauth/alpha/callback", {**fields, "code": stolen_code})
    refused(response)
    assert [f["reason"] for f in await failures(db)] == ["refused"]
    assert await count(db, User) == 0


async def test_without_pkce_at_the_provider_the_nonce_still_stops_a_stolen_code(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.tamper = {"skip_pkce_check": True}
    alpha.person = Person(sub="victim")
    victims_answer = await at_provider(departure(await start(web, "alpha")))
    stolen_code = query_of(victims_answer.headers["location"])["code"]
    attacker = web.other_browser()
    attackers_answer = await at_provider(departure(await start(attacker, "alpha")))
    fields = landing_fields(await attacker.get(local(attackers_answer.headers["location"])))
    refused(await attacker.submit("/auth/oauth/alpha/callback", {**fields, "code": stolen_code}))
    assert [(f["reason"], f["check"]) for f in await failures(db)] == [("invalid_token", "nonce")]
    assert await count(db, User) == 0


async def test_an_altered_pkce_verifier_is_refused_by_the_provider(
    web: WebClient, alpha: Tenant, app: Litestar, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    flow = await db.scalar(select(OAuthFlow))
    assert flow is not None
    security = app.state.security
    flow.verifier_sealed = security.at_rest.seal(b"x" * 64, b"oauth-flow:" + flow.state_hash)
    await db.commit()
    refused(await come_back(web, answer.headers["location"]))
    assert alpha.token_requests[0]["code_verifier"] == "x" * 64
    assert [(f["reason"], f["error"]) for f in await failures(db)] == [("refused", "invalid_grant")]


async def test_a_verifier_that_does_not_open_in_its_row_is_refused_before_the_token_request(
    web: WebClient, alpha: Tenant, app: Litestar, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    flow = await db.scalar(select(OAuthFlow))
    assert flow is not None
    flow.verifier_sealed = app.state.security.at_rest.seal(b"y" * 64, b"oauth-flow:another-row")
    await db.commit()
    refused(await come_back(web, answer.headers["location"]))
    assert alpha.token_requests == []


# --- the ID token [61]

BAD_TOKENS = {
    "wrong-audience": ({"claims": {"aud": "someone-else"}}, "audience"),
    "extra-audience-without-azp": ({"claims": {"aud": ["gatehouse", "someone-else"]}}, "audience"),
    "wrong-azp": ({"claims": {"azp": "someone-else"}}, "audience"),
    "wrong-issuer": ({"claims": {"iss": "https://evil.example"}}, "issuer"),
    "expired": ({"claims": {"exp": lambda now: now - 600}}, "expired"),
    "issued-in-the-future": ({"claims": {"iat": lambda now: now + 600}}, "issued_at"),
    "issued-long-ago": ({"claims": {"iat": lambda now: now - 3600}}, "issued_at"),
    "alg-none": ({"alg": "none"}, "algorithm"),
    "hmac-with-the-client-secret": ({"alg": "HS256"}, "algorithm"),
    "unknown-key": ({"unknown_key": True}, "unknown_key"),
    "nonce-mismatch": ({"claims": {"nonce": "not-this-flows"}}, "nonce"),
    "no-nonce": ({"claims": {"nonce": None}}, "nonce"),
    "no-subject": ({"claims": {"sub": None}}, "subject"),
}


@pytest.mark.parametrize(("tamper", "check"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_an_id_token_failing_a_check_signs_nobody_in(
    web: WebClient, alpha: Tenant, db: AsyncSession, tamper: dict[str, Any], check: str
) -> None:
    alpha.tamper = tamper
    response = await trip(web, alpha, "alpha", Person(sub="1"))
    refused(response)
    assert "could not be verified" in response.text
    assert not await signed_in(web)
    assert await count(db, User) == 0
    assert [(f["reason"], f["check"]) for f in await failures(db)] == [("invalid_token", check)]


async def test_a_rotated_key_is_fetched_again_but_unknown_keys_at_most_once_a_minute(
    web: WebClient, alpha: Tenant, clock: FrozenClock
) -> None:
    assert (await trip(web, alpha, "alpha", Person(sub="1"))).status_code == 303
    assert alpha.jwks_hits == 1
    alpha.key = RSAKey.generate_key(2048, parameters={"kid": "alpha-2", "use": "sig", "alg": "RS256"})
    clock.advance(timedelta(minutes=2))
    assert (await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))).status_code == 303
    assert alpha.jwks_hits == 2, "the new key was fetched once"
    alpha.tamper = {"unknown_key": True}
    for _ in range(3):
        refused(await trip(web.other_browser(), alpha, "alpha", Person(sub="1")))
    assert alpha.jwks_hits == 2, "fetched again just now: unknown keys wait a minute"


async def test_discovery_documents_and_keys_are_cached_for_their_lifetime(
    web: WebClient, idp: IdentityProviderServer, alpha: Tenant, clock: FrozenClock
) -> None:
    for _ in range(3):
        assert (await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))).status_code == 303
    assert (alpha.discovery_hits, alpha.jwks_hits) == (1, 1)
    clock.advance(timedelta(hours=1, minutes=1))
    idp.clock_offset = 3660
    assert (await trip(web.other_browser(), alpha, "alpha", Person(sub="1"))).status_code == 303
    assert (alpha.discovery_hits, alpha.jwks_hits) == (2, 2)


# --- mix-up and redirect URIs [62][63]


async def test_an_answer_naming_another_issuer_is_refused_before_the_token_request(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    alpha.tamper = {"iss_param": beta.issuer}
    refused(await trip(web, alpha, "alpha", Person(sub="1")))
    assert alpha.token_requests == []
    assert [f["reason"] for f in await failures(db)] == ["mixed_up"]


async def test_a_missing_iss_is_refused_when_the_provider_promises_one(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.tamper = {"omit_iss_param": True}
    refused(await trip(web, alpha, "alpha", Person(sub="1")))
    assert alpha.token_requests == []
    assert [f["reason"] for f in await failures(db)] == ["mixed_up"]


async def test_an_answer_brought_to_another_providers_callback_is_refused(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    alpha.person = Person(sub="1")
    answer = await at_provider(departure(await start(web, "alpha")))
    fields = landing_fields(await web.get(local(answer.headers["location"])))
    refused(await web.submit("/auth/oauth/beta/callback", fields))
    assert alpha.token_requests == beta.token_requests == []
    assert [f["reason"] for f in await failures(db)] == ["mixed_up"]


async def test_a_discovery_document_naming_another_issuer_is_not_used(
    web: WebClient, alpha: Tenant, beta: Tenant, db: AsyncSession
) -> None:
    alpha.tamper = {"discovery_issuer": beta.issuer}
    refused(await start(web, "alpha"), 502)
    assert await count(db, OAuthFlow) == 0


async def test_a_tampered_redirect_uri_gets_no_code_from_the_provider(web: WebClient, alpha: Tenant) -> None:
    alpha.person = Person(sub="1")
    url = departure(await start(web, "alpha"))
    tampered = url.replace("testserver.local", "evil.example")
    answer = await at_provider(tampered)
    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_a_code_a_lax_provider_sent_elsewhere_is_refused_at_the_token_endpoint(
    web: WebClient, alpha: Tenant, db: AsyncSession
) -> None:
    alpha.tamper = {"lax_redirect": True}
    alpha.person = Person(sub="1")
    url = departure(await start(web, "alpha"))
    answer = await at_provider(url.replace("testserver.local", "evil.example"))
    leaked = answer.headers["location"].replace("evil.example", "testserver.local")
    refused(await come_back(web, leaked))
    assert alpha.token_requests[0]["redirect_uri"] == f"{BASE_URL}/auth/oauth/alpha/callback"
    assert [(f["reason"], f["error"]) for f in await failures(db)] == [("refused", "invalid_grant")]
    assert not await signed_in(web)


@pytest.mark.parametrize("signed_in_first", [False, True])
async def test_with_providers_configured_no_get_route_changes_the_database(
    app: Litestar, web: WebClient, alpha: Tenant, db: AsyncSession, signed_in_first: bool
) -> None:
    from tests.web.test_route_table import routes, snapshot

    if signed_in_first:
        await trip(web, alpha, "alpha", Person(sub="1"))
    await web.get("/")
    before = await snapshot(db)
    for path in routes(app, "GET"):
        await web.get(path.replace("/x/", "/alpha/"))
        await web.get(f"{path}?provider=alpha&code=c&state=s&iss={alpha.issuer}&next=/settings")
    assert await snapshot(db) == before
