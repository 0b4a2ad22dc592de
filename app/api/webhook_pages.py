"""`/o/<slug>/webhooks`: an organization's endpoints, their delivery log, redeliver, rotate, on/off.

Everything here needs `org:settings`; adding an endpoint and rotating its secret need a fresh
sudo, and the secret is shown once, in the answer to that POST.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Template
from sqlalchemy import select

from app.api.webhooks import EVENTS, create_endpoint, disable_endpoint, redeliver, rotate_secret
from app.auth.core.guards import requires_sudo
from app.auth.core.landing import TOKEN_PAGE_HEADERS
from app.auth.core.models import WebhookDelivery, WebhookEndpoint
from app.auth.core.tenancy import org_of, requires_org_permission
from app.auth.core.toolkit import security_of
from app.auth.core.webhooks import UnsafeDestinationError
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("WebhooksController",)

EndpointForm = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]
LOG_SIZE = 50


class WebhooksController(Controller):
    """The organization's webhook endpoints."""

    path = "/o/{org_slug:str}/webhooks"
    guards = [requires_org_permission("org:settings")]
    include_in_schema = False

    async def _page(
        self, request: Request[Any, Any, Any], db: DBSession, status: int = 200, **extra: Any
    ) -> Template:
        org = org_of(request)
        endpoints = (
            await db.scalars(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.org_id == org.org_id)
                .order_by(WebhookEndpoint.created_at)
            )
        ).all()
        context = {"error": "", "new_secret": None, **extra}
        return render(
            request,
            "orgs/webhooks.html",
            org=org,
            org_section="webhooks",
            endpoints=endpoints,
            events=EVENTS,
            status=status,
            headers=TOKEN_PAGE_HEADERS,
            **context,
        )

    async def _endpoint(
        self, request: Request[Any, Any, Any], db: DBSession, endpoint_id: UUID
    ) -> WebhookEndpoint:
        endpoint = await db.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == org_of(request).org_id
            )
        )
        if endpoint is None:
            raise NotFoundException()
        return endpoint

    @get("/", name="org_webhooks")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The endpoints, and a form for a new one."""
        return await self._page(request, db_session)

    @post("/", name="org_webhooks_create", guards=[requires_sudo])
    async def create(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: EndpointForm
    ) -> Template:
        """Add an endpoint; its secret is shown this once."""
        events = data.get("events", [])
        chosen = [events] if isinstance(events, str) else list(events)
        try:
            _, secret = await create_endpoint(
                db_session,
                security_of(request),
                org_of(request),
                str(data.get("url", "")),
                chosen,
                require_https=request.app.state.settings.is_prod,
            )
        except (UnsafeDestinationError, ValueError) as exc:
            return await self._page(request, db_session, status=422, error=str(exc))
        return await self._page(request, db_session, status=201, new_secret=secret)

    @get("/{endpoint_id:uuid}", name="org_webhook")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, endpoint_id: FromPath[UUID]
    ) -> Template:
        """One endpoint and its newest deliveries."""
        endpoint = await self._endpoint(request, db_session, endpoint_id)
        deliveries = (
            await db_session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint.id)
                .order_by(WebhookDelivery.created_at.desc())
                .limit(LOG_SIZE)
            )
        ).all()
        return render(
            request,
            "orgs/webhook.html",
            org=org_of(request),
            org_section="webhooks",
            endpoint=endpoint,
            deliveries=deliveries,
            new_secret=None,
            headers=TOKEN_PAGE_HEADERS,
        )

    @post("/{endpoint_id:uuid}/rotate", name="org_webhook_rotate", guards=[requires_sudo])
    async def rotate(
        self, request: Request[Any, Any, Any], db_session: DBSession, endpoint_id: FromPath[UUID]
    ) -> Template:
        """A new secret (the old one keeps signing for a day); shown once."""
        endpoint = await self._endpoint(request, db_session, endpoint_id)
        secret = await rotate_secret(db_session, security_of(request), endpoint)
        return render(
            request,
            "orgs/webhook.html",
            org=org_of(request),
            org_section="webhooks",
            endpoint=endpoint,
            deliveries=[],
            new_secret=secret,
            headers=TOKEN_PAGE_HEADERS,
        )

    @post("/{endpoint_id:uuid}/toggle", name="org_webhook_toggle")
    async def toggle(
        self, request: Request[Any, Any, Any], db_session: DBSession, endpoint_id: FromPath[UUID]
    ) -> Response[Any]:
        """Turn the endpoint off, or back on."""
        endpoint = await self._endpoint(request, db_session, endpoint_id)
        await disable_endpoint(db_session, endpoint.id, endpoint.org_id, enabled=not endpoint.enabled)
        flash(request, "Endpoint turned off." if endpoint.enabled else "Endpoint turned on.", "success")
        return see_other(request, f"/o/{org_of(request).slug}/webhooks/{endpoint.id}")

    @post("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/redeliver", name="org_webhook_redeliver")
    async def redeliver(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        endpoint_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
    ) -> Response[Any]:
        """Send one delivery again."""
        endpoint = await self._endpoint(request, db_session, endpoint_id)
        delivery = await db_session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
            )
        )
        if delivery is None:
            raise NotFoundException()
        await redeliver(db_session, delivery, security_of(request).clock.now())
        flash(request, "Delivery queued again.", "success")
        return see_other(request, f"/o/{org_of(request).slug}/webhooks/{endpoint.id}")
