"""The optional JWTs [79]: exchanges, every forgery refused, revocation, rotation with reuse detection.

This module's app has `API_JWT_ENABLED` on (the key set is derived from the test secret); the
switched-off 404 is tested in `test_api.py`, on the suite's default app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from litestar import Litestar
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.jwt_tokens import JwtKeys
from app.auth.core.models import ApiGrant, ApiRefreshToken, ApiToken, WebAuthnCredential
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.settings import Settings
from tests.api.support import World, bearer, build_world, create_token
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import WebClient

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
REVOKE = "/api/v1/auth/revoke"


@pytest.fixture
def app(settings: Settings, db: AsyncSession, clock: FrozenClock) -> Litestar:
    return create_app(settings.model_copy(update={"api_jwt_enabled": True}), clock=clock)


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    return await build_world(accounts, db)


@pytest.fixture
def api(web: WebClient) -> WebClient:
    return web.other_browser()


async def password_grant(api: WebClient, email: str, **extra: str) -> Any:
    return await api.request("POST", TOKEN, json={"email": email, "password": DEFAULT_PASSWORD, **extra})


async def access_for(api: WebClient, email: str) -> dict[str, Any]:
    response = await password_grant(api, email)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    pair: dict[str, Any] = response.json()
    return pair


# --- exchanges


async def test_a_password_exchange_acts_as_the_user_capped_by_the_role(world: World, api: WebClient) -> None:
    pair = await access_for(api, world.member.email)
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 15 * 60
    assert pair["refresh_expires_in"] == 30 * 24 * 3600
    assert pair["refresh_token"].startswith("gthr_")
    me = await api.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == world.member.email
    [acme] = (await api.get("/api/v1/orgs", headers=bearer(pair["access_token"]))).json()
    assert "members:manage" not in acme["permissions"], "a member's JWT has a member's rights"
    assert "projects:write" in acme["permissions"]
    made = await api.request(
        "POST", "/api/v1/orgs/acme/projects", json={"name": "Via JWT"}, headers=bearer(pair["access_token"])
    )
    assert made.status_code == 201


async def test_a_token_exchange_keeps_the_tokens_scopes_and_dies_with_it(
    world: World, accounts: Accounts, web: WebClient, api: WebClient, db: AsyncSession
) -> None:
    await accounts.login(web, world.admin.email)
    pat = await create_token(web, scopes=("account:read",))
    response = await api.request("POST", TOKEN, json={"api_token": pat})
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    assert (await api.get("/api/v1/me", headers=bearer(access))).json()["scopes"] == ["account:read"]
    made = await api.request("POST", "/api/v1/orgs/acme/projects", json={"name": "x"}, headers=bearer(access))
    assert made.status_code == 403, "the PAT had no projects scope, nor has its JWT"
    row = await db.scalar(select(ApiToken))
    assert row is not None
    assert (await web.submit(f"/settings/tokens/{row.id}/revoke")).status_code == 303
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 401


async def test_the_second_factor_is_asked_and_a_passkey_only_account_is_turned_away(
    accounts: Accounts, api: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create("tia@example.com")
    secret = await accounts.enrol_totp(user)
    assert (await password_grant(api, user.email)).status_code == 401
    assert (await password_grant(api, user.email, code="000000")).status_code in (401, 429)
    assert (await password_grant(api, user.email, code=accounts.totp_code(secret))).status_code == 200
    wrong = await api.request("POST", TOKEN, json={"email": user.email, "password": "not it at all"})
    assert wrong.status_code == 401
    keyed = await accounts.create("kit@example.com")
    db.add(WebAuthnCredential(user_id=keyed.id, credential_id=b"\x02" * 16, public_key=b"key", name="Laptop"))
    await db.commit()
    refused = await password_grant(api, keyed.email)
    assert refused.status_code == 403
    assert "personal access token" in refused.json()["detail"]


async def test_the_token_endpoint_is_limited_per_client_address(api: WebClient) -> None:
    statuses = [
        (await api.request("POST", TOKEN, json={"api_token": "gth_nope"})).status_code for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


# --- forgeries [79]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def test_every_forged_or_stale_token_is_401(world: World, api: WebClient, app: Litestar) -> None:
    access = (await access_for(api, world.member.email))["access_token"]
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 200
    keys = security_of(app).api_jwt
    assert isinstance(keys, JwtKeys)
    real = _claims_of(access)
    kid = keys.active.kid
    ours = keys.active.key.as_pem(private=False)
    attacker = Ed25519PrivateKey.generate()
    now = real["iat"]

    def with_claims(**changes: Any) -> str:
        return keys.sign({**real, **changes})

    forgeries = {
        "alg none": _compact({"alg": "none", "kid": kid, "typ": "at+jwt"}, real, lambda _: b""),
        "HS256 keyed with our public key": _compact(
            {"alg": "HS256", "kid": kid, "typ": "at+jwt"},
            real,
            lambda data: hmac.new(ours, data, hashlib.sha256).digest(),
        ),
        "jku pointing elsewhere": _compact(
            {"alg": "Ed25519", "kid": kid, "typ": "at+jwt", "jku": "https://evil.example/jwks.json"},
            real,
            attacker.sign,
        ),
        "jwk embedded": _compact(
            {
                "alg": "Ed25519",
                "typ": "at+jwt",
                "jwk": {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64(attacker.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
                },
            },
            real,
            attacker.sign,
        ),
        "kid path": _compact(
            {"alg": "Ed25519", "kid": "../../dev/null", "typ": "at+jwt"}, real, attacker.sign
        ),
        "our kid, another key": _compact(
            {"alg": "Ed25519", "kid": kid, "typ": "at+jwt"}, real, attacker.sign
        ),
        "wrong aud": with_claims(aud="https://elsewhere.example/api"),
        "wrong iss": with_claims(iss="https://elsewhere.example"),
        "exp in the past": with_claims(exp=now - 1),
        "nbf in the future": with_claims(nbf=now + 60),
        "no sid": keys.sign({k: v for k, v in real.items() if k != "sid"}),
        "another user": with_claims(sub=str(world.owner.id)),
        "wrong typ": _compact(
            {"alg": "Ed25519", "kid": kid, "typ": "JWT"}, real, lambda data: _sign_with(keys, data)
        ),
    }
    for name, forged in forgeries.items():
        response = await api.get("/api/v1/me", headers=bearer(forged))
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith("application/problem+json"), name
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 200, (
        "the real one still works"
    )


def _sign_with(keys: JwtKeys, data: bytes) -> bytes:
    private = keys.active.key.private_key
    assert isinstance(private, Ed25519PrivateKey)
    return private.sign(data)


async def test_an_access_token_expires_after_fifteen_minutes(
    world: World, api: WebClient, clock: FrozenClock
) -> None:
    access = (await access_for(api, world.member.email))["access_token"]
    clock.advance(timedelta(minutes=14, seconds=59))
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 401


async def test_a_token_issued_before_a_password_change_is_401(
    world: World, accounts: Accounts, web: WebClient, api: WebClient
) -> None:
    pair = await access_for(api, world.member.email)
    assert (await api.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 200
    await accounts.login(web, world.member.email)
    await web.get("/settings/password")
    changed = await web.submit(
        "/settings/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "a whole new passphrase 42"},
    )
    assert changed.status_code in (200, 303), changed.text[:300]
    assert (await api.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    refreshed = await api.request("POST", REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401


async def test_a_password_reset_revokes_every_grant_even_one_made_from_a_token(
    world: World, accounts: Accounts, web: WebClient, api: WebClient, mailbox: Mailbox
) -> None:
    from tests.auth.test_password_reset import ask, reset_link, use

    by_password = await access_for(api, world.member.email)
    browser = web.other_browser()
    await accounts.login(browser, world.member.email)
    pat = await create_token(browser, scopes=("account:read",))
    by_token = (await api.request("POST", TOKEN, json={"api_token": pat})).json()
    # The clock stays in the same second, so `iat` alone would not outdate them: the grants must go.
    await mailbox.wait_for(world.member.email)  # the "token created" notice, before the reset mail
    await ask(web, world.member.email)
    link = await reset_link(mailbox, world.member.email, count=2)
    assert (await use(web, link)).status_code in (200, 303)
    for pair in (by_password, by_token):
        assert (await api.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
        refreshed = await api.request("POST", REFRESH, json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    assert (await api.get("/api/v1/me", headers=bearer(pat))).status_code == 200, "the token itself lives on"


async def test_a_password_changed_by_any_path_outdates_older_access_tokens(
    world: World, api: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    """Even a change that revoked no grant (a path that forgot to) stops tokens issued before it."""
    access = (await access_for(api, world.member.email))["access_token"]
    clock.advance(timedelta(seconds=1))
    await db.execute(update(User).where(User.id == world.member.id).values(password_changed_at=clock.now()))
    await db.commit()
    assert (await api.get("/api/v1/me", headers=bearer(access))).status_code == 401
    fresh = (await access_for(api, world.member.email))["access_token"]
    assert (await api.get("/api/v1/me", headers=bearer(fresh))).status_code == 200


# --- refresh and revoke


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    world: World, api: WebClient, db: AsyncSession
) -> None:
    first = await access_for(api, world.member.email)
    second = await api.request("POST", REFRESH, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await api.get("/api/v1/me", headers=bearer(rotated["access_token"]))).status_code == 200
    replay = await api.request("POST", REFRESH, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401, "a spent refresh token is refused..."
    newest = await api.request("POST", REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert newest.status_code == 401, "...and its whole family with it"
    assert (await api.get("/api/v1/me", headers=bearer(rotated["access_token"]))).status_code == 401
    grant = await db.scalar(select(ApiGrant))
    assert grant is not None
    assert grant.revoked_at is not None
    stored = (await db.scalars(select(ApiRefreshToken).order_by(ApiRefreshToken.created_at))).all()
    assert len(stored) == 2
    assert stored[1].parent_id == stored[0].id
    assert all(len(row.token_hash) == 32 and row.revoked_at is not None for row in stored)
    assert rotated["refresh_token"].encode() not in b"".join(row.token_hash for row in stored)


async def test_revoke_ends_the_grant_and_unknown_tokens_are_answered_alike(
    world: World, api: WebClient
) -> None:
    pair = await access_for(api, world.member.email)
    assert (
        await api.request("POST", REVOKE, json={"refresh_token": pair["refresh_token"]})
    ).status_code == 204
    assert (await api.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (
        await api.request("POST", REFRESH, json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    unknown = await api.request("POST", REVOKE, json={"refresh_token": "gthr_" + "x" * 43})
    assert unknown.status_code == 204


async def test_a_jwt_request_costs_one_lookup_statement(world: World, api: WebClient, app: Litestar) -> None:
    access = (await access_for(api, world.member.email))["access_token"]
    await api.get("/api/v1/orgs", headers=bearer(access))  # warm up
    engine = app.state.db_config.get_engine().sync_engine
    statements: list[str] = []

    def on_statement(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        assert (await api.get("/api/v1/orgs", headers=bearer(access))).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    lookups = [s for s in statements if "api_grants" in s]
    assert len(lookups) == 1, statements
    assert len(statements) <= 3, statements  # the grant, the rate-limit count, the list


async def test_switched_on_the_endpoints_are_in_the_schema_and_on_the_docs_page(api: WebClient) -> None:
    schema = (await api.get("/api/openapi.json")).json()
    token = schema["paths"]["/api/v1/auth/token"]["post"]
    assert {} in token["security"], "no bearer token is needed to get one"
    assert "POST /api/v1/auth/token" in (await api.get("/developers/api")).text
