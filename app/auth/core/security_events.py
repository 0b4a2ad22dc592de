"""Security events an organization may forward to its webhooks, read off the audit log as it is written.

Which audit actions are security events, what they are called on the wire and whom they are
about is decided here, once: a mistake would leak a member's account activity to an integration
that was never allowed to see it, or hide a takeover from one that was. Two kinds:

- **about a member** (their password, second factor, address, sessions, lockout, a detected
  credential theft, support signing in as them): sent to each organization the member belongs to
  whose security policy opts into that event;
- **about the organization** (its security policy, its domains): sent to that organization only,
  again only when its policy opts in.

An organization's owner opts in per event (`Organization.security_events`, set with the rest of
its security policy); each webhook endpoint then chooses among the events like any other. The
audit writer (`audit_log.record_event`) calls `forward` with every record it chains; a host that
sends webhooks puts its listener in the database session's `info` under `LISTENER_KEY` (once, at
startup, with the session factory), so nothing is looked up for an action that is not a security
event, and a host without webhooks pays nothing at all. The listener runs in the transaction of
the change, so an event is queued exactly when the change commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import and_, exists

from app.auth.core.models import Membership, Organization

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.audit import AuditRecord

__all__ = (
    "LISTENER_KEY",
    "ORG_EVENTS",
    "SECURITY_EVENTS",
    "SecurityEvent",
    "SecurityEventListener",
    "chosen_events",
    "classify",
    "forward",
    "may_receive",
)

SECURITY_EVENTS: dict[str, str] = {
    "security.password_changed": "A member's password was changed or reset",
    "security.second_factor_changed": (
        "A member turned two-step verification on or off, added or removed a passkey, "
        "made new backup codes, or support reset their second factor"
    ),
    "security.email_changed": "A member's sign-in address changed",
    "security.sessions_revoked": "A member's other sessions, or all of them, were signed out",
    "security.account_locked": "A member's account was locked (too many failed codes) or disabled",
    "security.credential_reuse": (
        "A stolen credential was detected: a reused remember-me or refresh token, or a cloned passkey"
    ),
    "security.impersonated": "Platform support signed in as a member",
    "security.policy_changed": "The organization's security policy or domain joining changed",
    "security.domain_changed": "A domain of the organization was verified or removed",
}
"""The security events an organization may opt into, with what each means."""

ORG_EVENTS = frozenset({"security.policy_changed", "security.domain_changed"})
"""Events about the organization itself; every other one is about a member."""

_BY_ACTION: dict[str, str] = {
    "account.password.changed": "security.password_changed",
    "account.password.chosen": "security.password_changed",
    "auth.password_reset.completed": "security.password_changed",
    "auth.mfa.totp_enabled": "security.second_factor_changed",
    "auth.mfa.totp_disabled": "security.second_factor_changed",
    "auth.mfa.backup_codes_regenerated": "security.second_factor_changed",
    "auth.passkey.added": "security.second_factor_changed",
    "auth.passkey.removed": "security.second_factor_changed",
    "admin.user.second_factor_reset": "security.second_factor_changed",
    "account.email_change.confirmed": "security.email_changed",
    "auth.session.revoked_others": "security.sessions_revoked",
    "admin.user.sessions_revoked": "security.sessions_revoked",
    "auth.mfa.locked": "security.account_locked",
    "admin.user.locked": "security.account_locked",
    "admin.user.disabled": "security.account_locked",
    "auth.remember.reuse_detected": "security.credential_reuse",
    "api.jwt.refresh_reused": "security.credential_reuse",
    "auth.passkey.sign_count_regressed": "security.credential_reuse",
    "admin.impersonation.started": "security.impersonated",
    "org.security_policy_changed": "security.policy_changed",
    "org.domain_join_changed": "security.policy_changed",
    "org.domain.verified": "security.domain_changed",
    "org.domain.removed": "security.domain_changed",
}
"""Audit action → security event. An action missing here is never forwarded."""

_FAILURES_THAT_COUNT = frozenset(
    {
        "auth.mfa.locked",
        "auth.remember.reuse_detected",
        "api.jwt.refresh_reused",
        "auth.passkey.sign_count_regressed",
    }
)
"""Actions recorded as failures that are the event itself (an attack noticed); any other failure
(an address change that lost a race, say) did not happen and is not forwarded."""

LISTENER_KEY = "security_event_listener"
"""Where a database session's `info` holds the host's listener (absent: nothing is forwarded)."""


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security event, as a listener receives it (never a secret: only ids, the action, the address)."""

    type: str
    """The event's name (a key of `SECURITY_EVENTS`)."""
    action: str
    """The audit action behind it, e.g. `auth.passkey.added`."""
    occurred_at: datetime
    user_id: UUID | None
    """The member it is about (member events), else None."""
    org_id: UUID | None
    """The organization it happened in (organization events), else None."""
    actor_id: UUID | None
    """Who did it, when that was someone else than the member (support, an org admin)."""
    ip_address: str

    @property
    def about_org(self) -> bool:
        return self.type in ORG_EVENTS


SecurityEventListener = Callable[["AsyncSession", SecurityEvent], Awaitable[None]]


def classify(record: AuditRecord) -> SecurityEvent | None:
    """The security event `record` is, or None (not a security event, or one that did not happen)."""
    kind = _BY_ACTION.get(record.action)
    if kind is None or (record.outcome != "success" and record.action not in _FAILURES_THAT_COUNT):
        return None
    actor = UUID(record.actor_id) if record.actor_id else None
    if kind in ORG_EVENTS:
        if not record.org_id:
            return None
        return SecurityEvent(
            kind, record.action, record.occurred_at, None, UUID(record.org_id), actor, record.ip_address
        )
    subject = record.target_id if record.target_type == "user" and record.target_id else record.actor_id
    if not subject:
        return None
    user_id = UUID(subject)
    return SecurityEvent(
        kind,
        record.action,
        record.occurred_at,
        user_id,
        None,
        actor if actor != user_id else None,
        record.ip_address,
    )


async def forward(session: AsyncSession, record: AuditRecord) -> None:
    """Hand `record` to the session's listener when it is a security event (called by the audit writer)."""
    if record.action not in _BY_ACTION:
        return
    listener: SecurityEventListener | None = session.info.get(LISTENER_KEY)
    if listener is None:
        return
    event = classify(record)
    if event is not None:
        await listener(session, event)


def chosen_events(names: Iterable[str]) -> list[str]:
    """The security events an organization opts into, checked and sorted; ValueError for an unknown one."""
    chosen = sorted(set(names))
    unknown = [name for name in chosen if name not in SECURITY_EVENTS]
    if unknown:
        raise ValueError(f"Unknown security event: {unknown[0]}.")
    return chosen


def may_receive(event: SecurityEvent) -> ColumnElement[bool]:
    """The condition on `Organization` for the organizations that may be told of `event`.

    Only those whose policy opts into it, neither deleted nor suspended; for a member's event, only
    those the member belongs to; for an organization's event, only that organization.
    """
    opted_in = and_(
        Organization.security_events.contains([event.type]),
        Organization.deleted_at.is_(None),
        Organization.suspended_at.is_(None),
    )
    if event.about_org:
        return and_(opted_in, Organization.id == event.org_id)
    member = exists().where(Membership.org_id == Organization.id, Membership.user_id == event.user_id)
    return and_(opted_in, member)
