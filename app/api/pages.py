"""Token pages: `/settings/tokens` (personal) and `/o/<slug>/tokens` (the organization's).

Listing needs only a signed-in user (or `tokens:manage` in the organization); creating needs a
fresh sudo [77]. A new token is shown once, in the answer to the POST that made it (no-store, no
Referer), and never again: only its digest is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Template

from app.auth.core.api_tokens import (
    PERSONAL_SCOPES,
    TOKEN_SCOPES,
    InvalidTokenRequestError,
    TokenSpec,
    issue_token,
    list_tokens,
    revoke_token,
)
from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.landing import TOKEN_PAGE_HEADERS
from app.auth.core.orgs import PERMISSIONS, OrgContext
from app.auth.core.tenancy import org_of, requires_org_permission
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("OrgTokensController", "TokensController")

LIFETIMES = (7, 30, 90, 365)
"""Lifetimes offered, in days (the policy's maximum caps them; the default is preselected)."""

TokenForm = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]
can_manage = requires_org_permission("tokens:manage")


def _spec(data: dict[str, Any]) -> TokenSpec:
    scopes = data.get("scopes", [])
    scopes = [scopes] if isinstance(scopes, str) else list(scopes)
    days = str(data.get("days", ""))
    return TokenSpec(
        name=str(data.get("name", "")),
        scopes=frozenset(str(s) for s in scopes),
        ttl=timedelta(days=int(days)) if days.isdigit() and len(days) < 5 else None,
    )


def _context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    policy = request.app.state.security.policy
    return {
        "lifetimes": [d for d in LIFETIMES if timedelta(days=d) <= policy.api_token_max_ttl],
        "default_days": policy.api_token_default_ttl.days,
        "now": request.app.state.security.clock.now(),
        "error": "",
        "new_token": None,
        **extra,
    }


class TokensController(Controller):
    """The signed-in user's personal access tokens."""

    path = "/settings/tokens"
    guards = [requires_user]
    include_in_schema = False

    async def _page(
        self, request: Request[Any, Any, Any], db: DBSession, status: int = 200, **extra: Any
    ) -> Template:
        tokens = await list_tokens(db, user_id=request.user.id)
        return render(
            request,
            "settings/tokens.html",
            section="tokens",
            tokens=tokens,
            scopes=TOKEN_SCOPES,
            status=status,
            headers=TOKEN_PAGE_HEADERS,
            **_context(request, **extra),
        )

    @get("/", name="settings_tokens")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The tokens, and a form for a new one."""
        return await self._page(request, db_session)

    @post("/", name="settings_tokens_create", guards=[requires_sudo])
    async def create(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: TokenForm
    ) -> Template:
        """Make a token and show it, this once."""
        try:
            issued = await issue_token(db_session, request, _spec(data))
        except InvalidTokenRequestError as exc:
            return await self._page(request, db_session, status=422, error=str(exc))
        return await self._page(request, db_session, status=201, new_token=issued.value)

    @post("/{token_id:uuid}/revoke", name="settings_tokens_revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: DBSession, token_id: FromPath[UUID]
    ) -> Response[Any]:
        """Revoke one token at once."""
        if not await revoke_token(db_session, request, token_id, user_id=request.user.id):
            raise NotFoundException()
        flash(request, "Token revoked. Anything using it stops working now.", "success")
        return see_other(request, "/settings/tokens")


class OrgTokensController(Controller):
    """The organization's own tokens (members with `tokens:manage`)."""

    path = "/o/{org_slug:str}/tokens"
    guards = [can_manage]
    include_in_schema = False

    async def _page(
        self, request: Request[Any, Any, Any], db: DBSession, status: int = 200, **extra: Any
    ) -> Template:
        org: OrgContext = org_of(request)
        tokens = await list_tokens(db, org_id=org.org_id)
        scopes = {k: v for k, v in PERMISSIONS.items() if org.can(k) and k not in PERSONAL_SCOPES}
        return render(
            request,
            "orgs/tokens.html",
            org=org,
            org_section="tokens",
            tokens=tokens,
            scopes=scopes,
            status=status,
            headers=TOKEN_PAGE_HEADERS,
            **_context(request, **extra),
        )

    @get("/", name="org_tokens")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The organization's tokens, and a form for a new one."""
        return await self._page(request, db_session)

    @post("/", name="org_tokens_create", guards=[requires_sudo])
    async def create(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: TokenForm
    ) -> Template:
        """Make an organization token and show it, this once."""
        try:
            issued = await issue_token(db_session, request, _spec(data), org=org_of(request))
        except InvalidTokenRequestError as exc:
            return await self._page(request, db_session, status=422, error=str(exc))
        return await self._page(request, db_session, status=201, new_token=issued.value)

    @post("/{token_id:uuid}/revoke", name="org_tokens_revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: DBSession, token_id: FromPath[UUID]
    ) -> Response[Any]:
        """Revoke one of the organization's tokens."""
        org = org_of(request)
        if not await revoke_token(db_session, request, token_id, org_id=org.org_id):
            raise NotFoundException()
        flash(request, "Token revoked. Anything using it stops working now.", "success")
        return see_other(request, f"/o/{org.slug}/tokens")
