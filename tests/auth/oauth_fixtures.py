"""Fixtures of the OAuth tests: three providers on the test provider server, and an app using them.

`alpha` and `beta` are OpenID Connect providers, `hub` a GitHub look-alike. The app under test is
configured with all three (keys `alpha`, `beta`, `github`); a test that needs other settings
builds its own with `oauth_app`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from tests.support.database import make_settings
from tests.support.oidc_provider import IdentityProviderServer, Tenant
from tests.support.web import BASE_URL

__all__ = ("alpha", "app", "beta", "hub", "oauth_app")


def _tenant(idp: IdentityProviderServer, name: str, key: str, kind: str = "oidc") -> Tenant:
    tenant = idp.tenant(name, kind)
    tenant.register("gatehouse", f"{name}-secret-{'x' * 32}", f"{BASE_URL}/auth/oauth/{key}/callback")
    return tenant


@pytest.fixture
def alpha(idp: IdentityProviderServer) -> Tenant:
    """An OpenID Connect provider, configured as `alpha`."""
    return _tenant(idp, "alpha", "alpha")


@pytest.fixture
def beta(idp: IdentityProviderServer) -> Tenant:
    """A second OpenID Connect provider, configured as `beta`."""
    return _tenant(idp, "beta", "beta")


@pytest.fixture
def hub(idp: IdentityProviderServer) -> Tenant:
    """A GitHub look-alike, configured with the `github` preset as `github`."""
    return _tenant(idp, "hub", "github", kind="github")


@pytest.fixture
def oauth_app(
    database_url: str, db: AsyncSession, clock: FrozenClock, alpha: Tenant, beta: Tenant, hub: Tenant
) -> Callable[..., Litestar]:
    """Build the app with the three providers; keyword arguments change the `alpha` entry."""

    def build(**alpha_options: Any) -> Litestar:
        providers = [alpha.setting("alpha", **alpha_options), beta.setting("beta"), hub.setting("github")]
        return create_app(make_settings(database_url, oauth_providers=providers), clock=clock)

    return build


@pytest.fixture
def app(oauth_app: Callable[..., Litestar]) -> Litestar:
    """The app under test, with `alpha`, `beta` and `github` configured."""
    return oauth_app()
