"""FEATURE_* switches: a switched-off feature's routes answer 404, its links and mails are gone,
impossible combinations stop the app, and factors people already have keep protecting them.

The minimal configuration as a whole is `make test-minimal` (the rest of the suite, everything
optional off); these tests switch one feature at a time against the default app.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import Organization
from app.features import FEATURES, FeatureError, check_features, dependents_of
from app.settings import Settings
from app.worker import cron_jobs
from tests.auth.test_registration import confirmation, register
from tests.support.accounts import Accounts
from tests.support.database import make_settings
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

pytestmark = pytest.mark.needs_features(*FEATURES)  # compares against the app with everything on

# A few routes each feature must take with it (route templates as the route table shows them).
GONE_WITH: dict[str, tuple[str, ...]] = {
    # --- feature: orgs
    "orgs": (
        "/orgs",
        "/orgs/new",
        "/o/{org_slug:str}/members",
        "/o/{org_slug:str}/projects",
        "/invitations/accept",
        "/admin/orgs",
    ),
    # --- end feature: orgs
    "admin": ("/admin", "/admin/users", "/impersonation/stop"),
    # --- feature: api
    "api": (
        "/api/v1/me",
        "/api/openapi.json",
        "/developers/api",
        "/settings/tokens",
        "/o/{org_slug:str}/tokens",
    ),
    # --- end feature: api
    # --- feature: webhooks
    "webhooks": ("/o/{org_slug:str}/webhooks",),
    # --- end feature: webhooks
    "passkeys": ("/settings/passkeys", "/settings/passkeys/options", "/login/passkey/options"),
    "totp": ("/settings/two-factor", "/settings/two-factor/setup", "/settings/two-factor/backup-codes"),
    "oauth": ("/settings/connected-accounts", "/auth/oauth/{key:str}/start", "/sudo/provider"),
    "magic_link": ("/login/email", "/login/email/code", "/login/email/link"),
}
# Kept on purpose with their feature off: a factor someone already has must stay answerable.
KEPT_WITHOUT: dict[str, tuple[str, ...]] = {
    "passkeys": ("/login/two-factor/passkey/options", "/sudo/passkey/options"),
    "totp": ("/login/two-factor",),
}


def without(settings: Settings, name: str) -> Settings:
    """`settings` with feature `name` off, and the features that need it."""
    return settings.model_copy(update={FEATURES[off].setting: False for off in (name, *dependents_of(name))})


def minimal(settings: Settings) -> Settings:
    return settings.model_copy(update={feature.setting: False for feature in FEATURES.values()})


def route_paths(app: Litestar) -> set[str]:
    return {route.path for route in app.routes}


def concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+:uuid\}", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"\{[^}]+:int\}", "1", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_feature_has_a_switch_and_a_test_row() -> None:
    assert set(GONE_WITH) == set(FEATURES)
    for feature in FEATURES.values():
        assert feature.setting in Settings.model_fields
        assert Settings.model_fields[feature.setting].default is True


@pytest.mark.parametrize("name", sorted(FEATURES))
async def test_a_switched_off_feature_takes_its_routes_with_it(
    app: Litestar, settings: Settings, db: AsyncSession, clock: FrozenClock, name: str
) -> None:
    smaller = create_app(without(settings, name), clock=clock)
    gone = route_paths(app) - route_paths(smaller)
    assert set(GONE_WITH[name]) <= gone, sorted(set(GONE_WITH[name]) - gone)
    assert set(KEPT_WITHOUT.get(name, ())) <= route_paths(smaller)
    async with AsyncTestClient(app=smaller, base_url=BASE_URL) as client:
        for path in sorted(gone):
            response = await client.get(concrete(path), follow_redirects=False)
            assert response.status_code == 404, (path, response.status_code)


@pytest.fixture
async def minimal_web(settings: Settings, db: AsyncSession, clock: FrozenClock) -> AsyncIterator[WebClient]:
    """A browser on the app with every optional feature off."""
    async with AsyncTestClient(app=create_app(minimal(settings), clock=clock), base_url=BASE_URL) as client:
        yield WebClient(client)


OPTIONAL_LINKS = (
    'href="/orgs"',
    'href="/settings/two-factor"',
    'href="/settings/passkeys"',
    'href="/settings/tokens"',
    'href="/admin/"',
    'href="/login/email"',
    "/login/passkey/options",
)


async def test_the_minimal_app_signs_up_into_account_settings_and_links_no_missing_page(
    minimal_web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    login = await minimal_web.get("/login")
    assert not [link for link in OPTIONAL_LINKS if link in login.text]
    await register(minimal_web, "ada@example.com")
    _, code = await confirmation(mailbox, "ada@example.com")
    await minimal_web.submit("/register/confirm-code", {"code": code})
    assert (await minimal_web.get("/dashboard", follow_redirects=False)).headers[
        "location"
    ] == "/settings/profile"
    assert await db.scalar(select(func.count()).select_from(Organization)) == 0, "no personal workspace"
    for page in ("/settings/profile", "/settings/security"):
        response = await minimal_web.get(page)
        assert response.status_code == 200
        assert not [link for link in OPTIONAL_LINKS if link in response.text], page


async def test_the_full_app_links_the_optional_pages(accounts: Accounts, web: WebClient) -> None:
    """The other half of the test above: the links it looks for are really there when the features are."""
    await accounts.create()
    await accounts.login(web)
    page = (await web.get("/settings/security")).text
    links = ['href="/settings/two-factor"', 'href="/settings/passkeys"']
    # --- feature: orgs
    links.append('href="/orgs"')
    # --- end feature: orgs
    # --- feature: api
    links.append('href="/settings/tokens"')
    # --- end feature: api
    for link in links:
        assert link in page, link


async def test_with_totp_off_an_enrolled_account_is_still_asked_for_its_code(
    settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    app = create_app(minimal(settings), clock=clock)
    accounts = Accounts(db=db, security=app.state.security)
    secret = await accounts.enrol_totp(await accounts.create())
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        signed_in = await accounts.login(web)
        assert signed_in.headers["location"] == "/login/two-factor", "switching TOTP off never drops a factor"
        assert (await web.get("/settings/profile", follow_redirects=False)).status_code in {302, 303}
        await web.get("/login/two-factor")
        answered = await web.submit("/login/two-factor", {"code": accounts.totp_code(secret)})
        assert answered.status_code == 303
        assert (await web.get("/settings/profile")).status_code == 200
        assert (await web.get("/settings/two-factor", follow_redirects=False)).status_code == 404


async def test_mail_previews_leave_out_the_mails_of_switched_off_features(minimal_web: WebClient) -> None:
    index = await minimal_web.get("/dev/mail-previews/")
    assert index.status_code == 200
    assert "/dev/mail-previews/confirm_email" in index.text
    for name in ("org_invitation", "magic_link", "api_token_created", "webhook_disabled", "oauth_changed"):
        assert f"/dev/mail-previews/{name}" not in index.text, name
        assert (await minimal_web.get(f"/dev/mail-previews/{name}")).status_code == 404, name


# --- feature: webhooks
def test_without_webhooks_the_worker_does_not_sweep_for_retries() -> None:
    on = make_settings("postgresql://db/app")
    names = {job.function.__qualname__ for job in cron_jobs(on)}
    assert "retry_webhooks" in names
    off = {job.function.__qualname__ for job in cron_jobs(on.model_copy(update={"feature_webhooks": False}))}
    assert names - off == {"retry_webhooks"}


# --- end feature: webhooks


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        # --- feature: webhooks
        ({"feature_orgs": False, "feature_api": False}, "FEATURE_WEBHOOKS=true needs FEATURE_ORGS"),
        ({"feature_api": False}, "FEATURE_WEBHOOKS=true needs FEATURE_API"),
        # --- end feature: webhooks
        # --- feature: api
        ({"feature_orgs": False, "feature_webhooks": False}, "FEATURE_API=true needs FEATURE_ORGS"),
        # --- end feature: api
        (
            {
                "feature_oauth": False,
                "oauth_providers": [{"key": "github", "client_id": "x", "client_secret": "y"}],
            },
            "OAUTH_PROVIDERS is set but FEATURE_OAUTH is off",
        ),
    ],
)
def test_impossible_combinations_stop_the_app_with_the_setting_to_change(
    switches: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, app_env="dev", **switches)  # type: ignore[arg-type]


def test_switching_on_a_removed_feature_stops_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, app_env="dev")  # type: ignore[call-arg]
    monkeypatch.delitem(FEATURES, "admin")  # as after `scripts/remove_feature.py admin`
    with pytest.raises(FeatureError, match="FEATURE_ADMIN=true, but this checkout has no such feature"):
        check_features(settings)
    check_features(settings.model_copy(update={"feature_admin": False}))


def test_the_switches_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for feature in FEATURES.values():
        monkeypatch.setenv(feature.setting.upper(), "false")
    settings = Settings(_env_file=None, app_env="dev")  # type: ignore[call-arg]
    assert not any(getattr(settings, feature.setting) for feature in FEATURES.values())
