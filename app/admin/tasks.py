"""Admin console jobs: the audit chain check, run by the worker and recorded in the log itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import record_event, verify_audit_chain

__all__ = ("VERIFIED_ACTION", "verify_audit_log")

VERIFIED_ACTION = "audit.chain.verified"
log = structlog.get_logger(__name__)


async def verify_audit_log(ctx: dict[str, Any]) -> dict[str, Any]:
    """Walk the chain, then append the verdict as an event (outcome `failure` when it is broken)."""
    engine = ctx["engine"]
    async with AsyncSession(engine) as session:
        report = await verify_audit_chain(session)
    verdict = {
        "checked": report.checked,
        "first_broken_seq": report.first_broken_seq,
        "reason": report.reason or "",
    }
    async with AsyncSession(engine) as session, session.begin():
        record = AuditRecord(
            occurred_at=datetime.now(UTC),
            action=VERIFIED_ACTION,
            outcome="success" if report.ok else "failure",
            details=verdict,
        )
        await record_event(session, record)
    log.info("audit.chain.verified", ok=report.ok, **verdict)
    return verdict
