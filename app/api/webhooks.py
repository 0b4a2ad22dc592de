"""Webhooks of an organization: endpoints, events into deliveries, attempts with backoff, auto-disable.

Signing and the SSRF-safe send are the core's (`app.auth.core.webhooks`). Here: an event becomes
one `WebhookDelivery` per enabled endpoint that chose it, in the transaction of the change, with a
`deliver_webhook` job in the outbox; each attempt writes its outcome back (the delivery log). A
failed attempt is retried after 1 min, 5 min, 30 min, 2 h, 6 h and 12 h (`RETRY_SCHEDULE`, swept
every minute by `retry_webhooks`); an endpoint failing for `webhook_disable_after` with no success
is disabled and the organization's admins are mailed.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from sqlalchemy import null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Membership, Organization, OrgRole, WebhookDelivery, WebhookEndpoint
from app.auth.core.security_events import SECURITY_EVENTS, SecurityEvent, may_receive
from app.auth.core.webhooks import RETRY_SCHEDULE, check_url, new_secret, post_signed
from app.auth.models import User
from app.jobs import JOB_CIPHER_INFO_KEY, defer
from app.outbox import relay_after_commit

if TYPE_CHECKING:
    from app.auth.core.orgs import OrgContext
    from app.auth.core.toolkit import Security

log = structlog.get_logger(__name__)

__all__ = (
    "EVENTS",
    "announce_invitation",
    "announce_member",
    "announce_project",
    "announce_security",
    "create_endpoint",
    "deliver_webhook",
    "emit",
    "redeliver",
    "retry_webhooks",
    "rotate_secret",
)

EVENTS = {
    "project.created": "A project was created",
    "project.updated": "A project was renamed, re-described, archived or restored",
    "project.deleted": "A project was deleted",
    "member.joined": "Someone joined the organization (an invitation, or a verified domain)",
    "member.left": "A member left or was removed",
    "member.role_changed": "A member was given another role",
    "invitation.created": "An invitation was sent (or sent again, with a new link)",
    "invitation.accepted": "An invitation was accepted",
    "invitation.revoked": "A pending invitation was revoked",
    # Security events reach an endpoint only while the organization's security policy opts into them.
    **SECURITY_EVENTS,
}
"""The events an endpoint can choose."""


def _context(endpoint_id: UUID) -> bytes:
    return b"webhook-secret:" + endpoint_id.bytes


async def create_endpoint(
    db: AsyncSession, security: Security, ctx: OrgContext, url: str, events: list[str], *, require_https: bool
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the organization and its secret (shown once; kept sealed to sign with)."""
    clean = check_url(url, require_https=require_https)
    chosen = sorted(set(events) & set(EVENTS))
    if not chosen:
        raise ValueError("Choose at least one event.")
    endpoint = WebhookEndpoint(org_id=ctx.org_id, url=clean, events=chosen, secret_sealed="")
    db.add(endpoint)
    await db.flush()
    secret = new_secret()
    endpoint.secret_sealed = security.at_rest.seal(secret.encode(), _context(endpoint.id))
    await db.flush()
    return endpoint, secret


async def rotate_secret(db: AsyncSession, security: Security, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing beside it for `webhook_secret_overlap`."""
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = security.clock.now() + security.policy.webhook_secret_overlap
    endpoint.secret_sealed = security.at_rest.seal(secret.encode(), _context(endpoint.id))
    await db.flush()
    return secret


def signing_secrets(security: Security, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while it lasts."""
    found = [security.at_rest.open(endpoint.secret_sealed, _context(endpoint.id)).decode()]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed and expires is not None and now < expires:
        found.append(security.at_rest.open(endpoint.previous_secret_sealed, _context(endpoint.id)).decode())
    return found


async def emit(db: AsyncSession, org_id: UUID, event_type: str, data: dict[str, Any], now: datetime) -> int:
    """Queue `event_type` for every enabled endpoint of the organization that chose it; how many."""
    endpoints = (
        await db.scalars(
            select(WebhookEndpoint.id).where(
                WebhookEndpoint.org_id == org_id,
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.events.contains([event_type]),
            )
        )
    ).all()
    for endpoint_id in endpoints:
        await _queue(db, endpoint_id, event_type, data, now)
    return len(endpoints)


async def _queue(
    db: AsyncSession, endpoint_id: UUID, event_type: str, data: dict[str, Any], now: datetime
) -> None:
    """One delivery of an event to one endpoint, and the job that sends it once the change commits."""
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    delivery = WebhookDelivery(
        endpoint_id=endpoint_id,
        event_id=f"msg_{secrets.token_hex(12)}",
        event_type=event_type,
        payload=payload,
        next_attempt_at=now,
    )
    db.add(delivery)
    await db.flush()
    defer(db, "deliver_webhook", delivery_id=str(delivery.id))


async def announce_security(db: AsyncSession, event: SecurityEvent) -> int:
    """A security event for the endpoints that chose it, of organizations whose policy opts into it.

    A member's event goes to every such organization they belong to, an organization's event to
    that organization only; never to a deleted or suspended one. One statement finds them all.
    (The core's audit writer calls this: `app.asgi` puts it in every session as the listener.)
    """
    email = (
        null() if event.about_org else select(User.email).where(User.id == event.user_id).scalar_subquery()
    )
    query = (
        select(WebhookEndpoint.id, Organization.id, email)
        .join(Organization, Organization.id == WebhookEndpoint.org_id)
        .where(
            may_receive(event),  # the core's rule: opted in, and the member's own organizations only
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.events.contains([event.type]),
        )
    )
    data: dict[str, Any] = {
        "action": event.action,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "ip_address": event.ip_address,
    }
    if not event.about_org:
        data = {"user_id": str(event.user_id), **data}
    rows = (await db.execute(query)).all()
    for endpoint_id, org_id, address in rows:
        body = {**data, "org_id": str(org_id)}
        if address is not None:
            body["email"] = address
        await _queue(db, endpoint_id, event.type, body, event.occurred_at)
    return len(rows)


_PROJECT_EVENTS = {
    "project.created": "project.created",
    "project.updated": "project.updated",
    "project.archived": "project.updated",
    "project.unarchived": "project.updated",
    "project.deleted": "project.deleted",
}


async def announce_project(db: AsyncSession, org_id: UUID, action: str, project: Any, now: datetime) -> None:
    """The webhook event for a project change (called by the project services with their audit event)."""
    event = _PROJECT_EVENTS.get(action)
    if event is None:
        return
    data = {
        "id": str(project.id),
        "name": project.name,
        "summary": project.summary,
        "archived": project.archived_at is not None,
        "created_by": str(project.created_by) if project.created_by else None,
    }
    await emit(db, org_id, event, data, now)


async def announce_member(
    db: AsyncSession,
    org_id: UUID,
    event: str,
    user_id: UUID,
    now: datetime,
    *,
    role: str | None = None,
    reason: str | None = None,
) -> None:
    """`member.joined`, `member.left` (`reason`: `left` or `removed`) or `member.role_changed` (`role`)."""
    email = await db.scalar(select(User.email).where(User.id == user_id))
    data: dict[str, Any] = {"user_id": str(user_id), "email": email or ""}
    if role is not None:
        data["role"] = role
    if reason is not None:
        data["reason"] = reason
    await emit(db, org_id, event, data, now)


async def announce_invitation(db: AsyncSession, event: str, invitation: Any, now: datetime) -> None:
    """`invitation.created`, `invitation.accepted` or `invitation.revoked` (never the link's token)."""
    data = {
        "id": str(invitation.id),
        "email": invitation.email,
        "role_id": str(invitation.role_id),
        "invited_by": str(invitation.invited_by) if invitation.invited_by else None,
    }
    await emit(db, invitation.org_id, event, data, now)


async def redeliver(db: AsyncSession, delivery: WebhookDelivery, now: datetime) -> None:
    """Send a delivery again (same `webhook-id`, so a receiver that got it already can drop it)."""
    delivery.status = "pending"
    delivery.next_attempt_at = now
    await db.flush()
    defer(db, "deliver_webhook", delivery_id=str(delivery.id))


async def attempt(
    db: AsyncSession, security: Security, delivery_id: UUID, *, require_https: bool, allow_loopback: bool
) -> str:
    """One attempt at a delivery, its outcome written back; the delivery's status afterwards."""
    now = security.clock.now()
    delivery = await db.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update(skip_locked=True)
    )
    if delivery is None or delivery.status != "pending":
        return delivery.status if delivery else "gone"
    endpoint = await db.get_one(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.enabled:
        delivery.status = "failed"
        delivery.last_error = "The endpoint is disabled."
        return delivery.status
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    result = await post_signed(
        endpoint.url,
        signing_secrets(security, endpoint, now),
        delivery.event_id,
        body,
        timestamp=int(now.timestamp()),
        require_https=require_https,
        allow_loopback=allow_loopback,
        seconds=security.policy.webhook_timeout.total_seconds(),
    )
    delivery.attempts += 1
    delivery.last_status_code = result.status_code
    delivery.last_duration_ms = result.duration_ms
    delivery.response_excerpt = result.excerpt[:500]
    delivery.last_error = result.error[:500]
    if result.succeeded:
        delivery.status = "succeeded"
        delivery.next_attempt_at = None
        endpoint.failing_since = None
        return delivery.status
    if delivery.attempts > len(RETRY_SCHEDULE):
        delivery.status = "failed"
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + RETRY_SCHEDULE[delivery.attempts - 1]
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= security.policy.webhook_disable_after:
        await _disable(db, security, endpoint)
    return delivery.status


async def _disable(db: AsyncSession, security: Security, endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = "Deliveries failed for too long."
    admins = (
        await db.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .join(OrgRole, OrgRole.id == Membership.role_id)
            .where(Membership.org_id == endpoint.org_id, OrgRole.permissions.contains(["org:settings"]))
        )
    ).all()
    for email in admins:
        security.adapter.send_mail(
            db,
            to=email,
            template="webhook_disabled",
            context={
                "url": endpoint.url,
                "since": endpoint.failing_since.strftime("%d %B %Y") if endpoint.failing_since else "",
            },
        )
    log.warning("webhook.endpoint_disabled", endpoint_id=str(endpoint.id))


# --- jobs


def _worker_session(ctx: dict[str, Any]) -> AsyncSession:
    return AsyncSession(ctx["engine"], expire_on_commit=False, info={JOB_CIPHER_INFO_KEY: ctx["cipher"]})


async def _commit(ctx: dict[str, Any], db: AsyncSession) -> None:
    """Commit, then hand the mail it deferred (an endpoint turned off) to the queue at once."""
    await db.commit()
    if ctx.get("jobs") is not None:
        await relay_after_commit(db, ctx["jobs"])


async def deliver_webhook(ctx: dict[str, Any], *, delivery_id: str) -> str:
    """The job: one attempt at one delivery."""
    settings = ctx["settings"]
    security = ctx["security"]
    async with _worker_session(ctx) as db:
        status = await attempt(
            db,
            security,
            UUID(delivery_id),
            require_https=settings.is_prod,
            allow_loopback=settings.webhook_allow_loopback,
        )
        await _commit(ctx, db)
    return status


async def retry_webhooks(ctx: dict[str, Any]) -> int:
    """The periodic job: attempt every delivery whose retry is due; how many were tried."""
    settings = ctx["settings"]
    security = ctx["security"]
    now = datetime.now(UTC) if security is None else security.clock.now()
    async with _worker_session(ctx) as db:
        due = (
            await db.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts > 0,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .limit(100)
            )
        ).all()
    for delivery_id in due:
        async with _worker_session(ctx) as db:
            await attempt(
                db,
                security,
                delivery_id,
                require_https=settings.is_prod,
                allow_loopback=settings.webhook_allow_loopback,
            )
            await _commit(ctx, db)
    return len(due)


async def disable_endpoint(db: AsyncSession, endpoint_id: UUID, org_id: UUID, *, enabled: bool) -> bool:
    """Turn an endpoint of the organization on or off (turning it on forgets its failures)."""
    result = await db.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == org_id)
        .values(enabled=enabled, failing_since=None, disabled_reason="")
        .returning(WebhookEndpoint.id)
    )
    return result.first() is not None
