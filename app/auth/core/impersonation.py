"""Impersonation: an administrator signs in as a user to see what they see, on the record [75][76].

The rules, each enforced here rather than left to pages:

- **Who.** An administrator with the separate `can_impersonate` right, inside a fresh sudo
  window, with a typed reason. Never another administrator (a support account must not become a
  way to borrow a colleague's powers), never a disabled or locked account, never while already
  impersonating.
- **A separate session.** The browser gets a brand-new session of kind `impersonation` for the
  user, marked with the administrator (`impersonator_id`) and pointing at the administrator's own
  session (`parent_session_id`). The administrator's session is parked: its token is replaced by
  one nobody holds, so a copy of the old cookie opens nothing meanwhile. The user's own sessions
  are not touched and the impersonation is not listed among them or counted against their limit.
- **At most `impersonation_max` (30 min)**, and the usual idle timeout. It never counts as
  sudo, so nothing behind `requires_sudo` can be done as the user (`refuses_impersonation` and
  the sudo guard refuse it outright), and the admin console itself is refused.
- **Stopping** deletes the impersonation session and hands the browser its administrator's
  session back under a new token. An impersonation that ran out instead signs the browser out
  entirely (see `session_store.resume_session`): it never falls back to administrator rights.
- **On the record.** Start and stop are audited with administrator, user, reason and address;
  every event written meanwhile names the administrator as `impersonator_id`
  (`audit_log.from_request`), and the user's security page lists the visits (`support_visits`).
  The adapter may also have the user mailed (`AccountAdapter.mail_on_impersonation`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit, from_request, record_event
from app.auth.core.limits import client_address
from app.auth.core.models import AuditEvent, AuthSession
from app.auth.core.platform_admin import ImpersonationRefused, admin_of
from app.auth.core.sessions import NewSession, SessionKind, start_session, sudo_is_fresh
from app.auth.core.tokens import new_token, token_digest
from app.auth.core.toolkit import security_of

__all__ = (
    "STARTED",
    "STOPPED",
    "ImpersonationError",
    "SupportVisit",
    "refuses_impersonation",
    "start_impersonation",
    "stop_impersonation",
    "support_visits",
)

STARTED = "admin.impersonation.started"
STOPPED = "admin.impersonation.stopped"
REASON_MAX = 500


class ImpersonationError(Exception):
    """The impersonation was refused; `reason` says why (for the page, not for the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def refuses_impersonation(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for pages an administrator must not use as someone else (password, sessions, factors...)."""
    current = connection.scope.get("auth")
    if current is not None and current.impersonator_id is not None:
        raise ImpersonationRefused()


async def start_impersonation(
    db: AsyncSession, request: Request[Any, Any, Any], target_id: UUID, reason: str
) -> NewSession:
    """Sign this browser in as `target_id` for the signed-in administrator; the new session's token.

    Raises `ImpersonationError` when a rule says no; the refusal is audited too.
    """
    security = security_of(request)
    policy = security.policy
    admin, current = request.user, request.auth
    now = security.clock.now()
    reason = " ".join(reason.split())[:REASON_MAX]
    refusal = None
    grant = await admin_of(db, admin.id)
    target = await db.get(security.users, target_id)
    if current.impersonator_id is not None:
        refusal = "already_impersonating"
    elif grant is None or not grant.can_impersonate:
        refusal = "no_permission"
    elif not sudo_is_fresh(current.authenticated_at, now, policy):
        refusal = "sudo_required"
    elif len(reason) < policy.impersonation_reason_min_length:
        refusal = "reason_required"
    elif target is None or target.id == admin.id:
        refusal = "no_such_user"
    elif await admin_of(db, target.id) is not None:
        refusal = "target_is_admin"
    elif not target.can_sign_in or target.confirmed_at is None:
        refusal = "account_unavailable"
    if refusal is not None:
        await audit(
            db, request, STARTED, outcome="failure", actor_id=admin.id, target_type="user",
            target_id=str(target_id), refused=refusal,
        )  # fmt: skip
        raise ImpersonationError(refusal)
    assert target is not None  # a missing target is a refusal above
    new = start_session(SessionKind.IMPERSONATION, clock=security.clock, policy=policy)
    agent = request.headers.get("user-agent", "")[:512]
    db.add(
        AuthSession(
            token_hash=new.token_hash,
            user_id=target_id,
            kind=SessionKind.IMPERSONATION.value,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.impersonation_max,
            authenticated_at=None,
            ip_address=client_address(request),
            user_agent=agent,
            device_label=security.adapter.device_label(agent),
            impersonator_id=admin.id,
            parent_session_id=current.id,
        )
    )
    # Park the administrator's session: its old token stops working until `stop_impersonation`.
    parked = token_digest(new_token(policy.session_token_bytes))
    await db.execute(update(AuthSession).where(AuthSession.id == current.id).values(token_hash=parked))
    await audit(
        db, request, STARTED, actor_id=admin.id, user_id=target_id, reason=reason,
        minutes=int(policy.impersonation_max.total_seconds() // 60),
    )  # fmt: skip
    if security.adapter.mail_on_impersonation(request, target):
        context = {
            "minutes": int(policy.impersonation_max.total_seconds() // 60),
            "security_link": security.link("security"),
        }
        security.adapter.send_mail(db, to=target.email, template="support_access", context=context)
    await db.flush()
    return new


async def stop_impersonation(db: AsyncSession, request: Request[Any, Any, Any]) -> NewSession | None:
    """End this impersonation; a new token for the administrator's own session (None if it is gone)."""
    security = security_of(request)
    current = request.auth
    if current is None or current.impersonator_id is None:
        return None
    row = (
        await db.execute(
            select(AuthSession.parent_session_id, AuthSession.user_id).where(AuthSession.id == current.id)
        )
    ).first()
    await db.execute(delete(AuthSession).where(AuthSession.id == current.id))
    record = from_request(
        request, STOPPED, "success", actor_id=current.impersonator_id, target_type="user",
        target_id=str(request.user.id), clock=security.clock,
    )  # fmt: skip
    # The administrator acts as themselves here: no impersonator on this event.
    await record_event(db, replace(record, impersonator_id=None))
    if row is None or row.parent_session_id is None:
        return None
    now = security.clock.now()
    new = start_session(SessionKind.PASSWORD, clock=security.clock, policy=security.policy)
    restored = await db.execute(
        update(AuthSession)
        .where(AuthSession.id == row.parent_session_id, AuthSession.expires_at > now)
        .values(token_hash=new.token_hash, last_seen_at=now)
        .returning(AuthSession.id)
    )
    return new if restored.first() is not None else None


@dataclass(frozen=True)
class SupportVisit:
    """One time an administrator signed in as the user (for the user's security page)."""

    started_at: datetime


async def support_visits(db: AsyncSession, user_id: UUID, limit: int = 10) -> list[SupportVisit]:
    """The newest times support signed in as the user (who exactly is kept in the audit log)."""
    rows = await db.scalars(
        select(AuditEvent.occurred_at)
        .where(
            AuditEvent.action == STARTED,
            AuditEvent.outcome == "success",
            AuditEvent.target_type == "user",
            AuditEvent.target_id == str(user_id),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return [SupportVisit(started_at=at) for at in rows]
