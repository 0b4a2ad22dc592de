"""Writing and verifying the audit log (the chain arithmetic is in `audit`).

`record_event` runs in the caller's transaction and never commits: an event exists exactly when
the change it describes does. Each event's hash covers the previous event's hash (see
`app.auth.core.audit`), so writers must take turns: a transaction-scoped advisory lock makes the
next writer wait until this transaction commits or rolls back, and only then read the newest hash.
That is also why the transaction must run at READ COMMITTED (PostgreSQL's default): a snapshot taken
before the wait would not see the event it has to link to.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select, text

from app.auth.core.audit import (
    MAX_LENGTHS,
    AuditError,
    AuditRecord,
    ChainReport,
    ChainVerifier,
    canonical_bytes,
    chain_hash,
    validate,
)
from app.auth.core.clock import Clock, SystemClock
from app.auth.core.models import AuditEvent
from app.auth.core.net import client_ip
from app.auth.core.policy import DEFAULT_POLICY
from app.auth.core.security_events import forward as forward_security_event
from app.auth.core.toolkit import security_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ("AUDIT_CHAIN_LOCK", "audit", "from_request", "record_event", "verify_audit_chain")

AUDIT_CHAIN_LOCK = 0x6761_7465_6175_6469
"""Advisory lock key held while an event is chained ("gateaudi" in ASCII; any fixed bigint works)."""

_LOCK_AND_ISOLATION = text("SELECT pg_advisory_xact_lock(:key), current_setting('transaction_isolation')")
_VERIFY_BATCH = 1_000


async def record_event(
    session: AsyncSession,
    record: AuditRecord,
    *,
    max_detail_bytes: int = DEFAULT_POLICY.audit_metadata_max_bytes,
) -> AuditEvent:
    """Validate `record`, chain it to the newest event and add it to the session's transaction."""
    record = replace(
        record,
        actor_id=_canonical_uuid(record.actor_id),
        impersonator_id=_canonical_uuid(record.impersonator_id),
        org_id=_canonical_uuid(record.org_id),
    )
    validate(record, max_detail_bytes=max_detail_bytes)
    _, isolation = (await session.execute(_LOCK_AND_ISOLATION, {"key": AUDIT_CHAIN_LOCK})).one()
    if isolation != "read committed":
        raise RuntimeError(f"audit events must be written at READ COMMITTED, not {isolation}")
    prev_hash = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    event = AuditEvent(
        occurred_at=record.occurred_at,
        action=record.action,
        outcome=record.outcome,
        actor_id=UUID(record.actor_id) if record.actor_id else None,
        impersonator_id=UUID(record.impersonator_id) if record.impersonator_id else None,
        org_id=UUID(record.org_id) if record.org_id else None,
        target_type=record.target_type,
        target_id=record.target_id,
        ip_address=record.ip_address,
        user_agent=record.user_agent,
        # Stored exactly as hashed (plain JSON, whole-number floats as ints).
        details=json.loads(canonical_bytes(record))["details"],
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, record),
    )
    session.add(event)
    await session.flush()
    # A security event also goes to the host's listener (the organizations' webhooks), in this
    # transaction: `security_events` decides which actions those are.
    await forward_security_event(session, record)
    return event


def from_request(
    request: Request[Any, Any, Any],
    action: str,
    outcome: str,
    *,
    actor_id: UUID | str | None = None,
    impersonator_id: UUID | str | None = None,
    target_type: str = "",
    target_id: str = "",
    details: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    org_id: UUID | str | None = None,
) -> AuditRecord:
    """An audit record for something `request` did, with its client address, user agent and time.

    While an administrator is signed in as someone, every event with an actor also names the
    administrator (`impersonator_id`), whoever wrote it: no flow can forget to [76].
    """
    acting_admin = getattr(request.scope.get("auth"), "impersonator_id", None)
    if impersonator_id is None and actor_id is not None and acting_admin is not None:
        impersonator_id = acting_admin
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.get("x-forwarded-for"), security_of(request).trusted_proxies)
    return AuditRecord(
        occurred_at=(clock or SystemClock()).now(),
        action=action,
        outcome=outcome,
        actor_id=str(actor_id) if actor_id is not None else None,
        impersonator_id=str(impersonator_id) if impersonator_id is not None else None,
        target_type=target_type,
        target_id=target_id,
        ip_address=ip[: MAX_LENGTHS["ip_address"]],
        user_agent=request.headers.get("user-agent", "")[: MAX_LENGTHS["user_agent"]],
        details=dict(details or {}),
        org_id=str(org_id) if org_id is not None else None,
    )


async def audit(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    action: str,
    *,
    outcome: str = "success",
    actor_id: UUID | None = None,
    user_id: UUID | None = None,
    org_id: UUID | None = None,
    target_type: str = "",
    target_id: str = "",
    **details: Any,
) -> None:
    """Record `action` about user `user_id` (the target), done by `actor_id` (default: the same user).

    In an organization pass `org_id` (the org's audit log lists the event) and, when the event is
    about something other than a user, `target_type`/`target_id` (`project`, its id).
    """
    security = security_of(request)
    record = from_request(
        request,
        action,
        outcome,
        actor_id=str(actor_id or user_id) if (actor_id or user_id) else None,
        target_type=target_type or ("user" if user_id else ""),
        target_id=target_id or (str(user_id) if user_id else ""),
        details=details,
        clock=security.clock,
        org_id=org_id,
    )
    await record_event(db, record, max_detail_bytes=security.policy.audit_metadata_max_bytes)


async def verify_audit_chain(session: AsyncSession) -> ChainReport:
    """Walk the whole log in `seq` order, streaming rows, and report the first break."""
    columns = (
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.action,
        AuditEvent.outcome,
        AuditEvent.actor_id,
        AuditEvent.impersonator_id,
        AuditEvent.org_id,
        AuditEvent.target_type,
        AuditEvent.target_id,
        AuditEvent.ip_address,
        AuditEvent.user_agent,
        AuditEvent.details,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    query = select(*columns).order_by(AuditEvent.seq).execution_options(yield_per=_VERIFY_BATCH)
    verifier = ChainVerifier()
    result = await session.stream(query)
    try:
        async for row in result:
            record = AuditRecord(
                occurred_at=row.occurred_at,
                action=row.action,
                outcome=row.outcome,
                actor_id=str(row.actor_id) if row.actor_id else None,
                impersonator_id=str(row.impersonator_id) if row.impersonator_id else None,
                org_id=str(row.org_id) if row.org_id else None,
                target_type=row.target_type,
                target_id=row.target_id,
                ip_address=row.ip_address,
                user_agent=row.user_agent,
                details=row.details,
            )
            if not verifier.check(row.seq, record, row.prev_hash, row.hash):
                break
    finally:
        await result.close()
    return verifier.report


def _canonical_uuid(value: str | None) -> str | None:
    # Hashed as the database will hand it back: lower-case with hyphens.
    if value is None:
        return None
    try:
        return str(UUID(value))
    except ValueError as exc:
        raise AuditError(f"{value!r} is not a user id (UUID)") from exc
