"""Settings → Connected accounts: the providers linked to this account; connect and disconnect.

Connecting and disconnecting need sudo [65]. Connecting starts a trip to the provider for the
signed-in user (the core's `begin` with purpose `link`); its answer comes back to the OAuth
callback (`app/auth/routes/oauth.py`). The last way to sign in cannot be disconnected.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.oauth.callback import begin
from app.auth.core.oauth.flows import Purpose
from app.auth.core.oauth.identities import Unlinked, connected_accounts
from app.auth.core.oauth.identities import disconnect as disconnect_identity
from app.auth.core.toolkit import security_of
from app.auth.routes.common import NO_STORE
from app.auth.routes.oauth import (
    CONNECTED_ACCOUNTS_PATH,
    OAUTH_EXCEPTION_HANDLERS,
    provider_named,
    requires_providers,
    to_provider,
)
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other


class ConnectedAccountsController(Controller):
    """The signed-in user's identity providers."""

    path = CONNECTED_ACCOUNTS_PATH
    guards = [requires_user, requires_providers, refuses_impersonation]
    include_in_schema = False
    exception_handlers = OAUTH_EXCEPTION_HANDLERS

    @get("/", name="settings_connected_accounts")
    async def page(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Connected providers (with Disconnect), then the others (with Connect)."""
        security = security_of(request)
        accounts = await connected_accounts(
            db_session, security, request.user.id, has_password=request.user.has_password
        )
        providers = security.oauth
        linked = {identity.provider for identity in accounts.identities}
        return render(
            request,
            "settings/connected_accounts.html",
            section="connected_accounts",
            accounts=accounts,
            providers=providers,
            available=[provider for key, provider in providers.items() if key not in linked],
            headers=NO_STORE,
        )

    @post(
        "/{key:str}/connect",
        name="settings_connected_accounts_connect",
        guards=[requires_sudo, limit_posts_per_ip],
    )
    async def connect(
        self, request: Request[Any, Any, Any], db_session: DBSession, key: FromPath[str]
    ) -> Response[Any]:
        """Off to the provider to connect an account there to this one."""
        provider = provider_named(request, key)
        departure = await begin(
            db_session, request, provider, purpose=Purpose.LINK, next_url=CONNECTED_ACCOUNTS_PATH
        )
        return to_provider(request, provider, departure)

    @post(
        "/{identity_id:uuid}/disconnect",
        name="settings_connected_accounts_disconnect",
        guards=[requires_sudo],
    )
    async def disconnect(
        self, request: Request[Any, Any, Any], db_session: DBSession, identity_id: FromPath[UUID]
    ) -> Response[Any]:
        """Remove a connection, unless it is the last way to sign in."""
        result = await disconnect_identity(db_session, request, identity_id)
        if result is Unlinked.REMOVED:
            flash(request, "Disconnected. It can no longer be used to sign in.", "success")
        elif result is Unlinked.LAST_WAY_IN:
            flash(
                request,
                "This is the only way to sign in to your account, so it cannot be disconnected. "
                "Choose a password or add a passkey first.",
                "error",
            )
        else:
            flash(request, "That connection no longer exists.", "info")
        return see_other(request, CONNECTED_ACCOUNTS_PATH)
