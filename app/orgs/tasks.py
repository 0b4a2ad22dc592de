"""The periodic purge of deleted organizations: the core's rules, the host's own tables.

An organization deleted by its owner or by a platform administrator is closed at once and kept,
restorable, for `org_deletion_grace` (14 days by default). This job, run every hour by the worker,
removes the ones whose grace is over. It is idempotent: a purged organization is gone, so running
it twice (or on two workers) purges nothing twice.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import record_event
from app.auth.core.clock import SystemClock
from app.auth.core.orgs import OrgPurgeHook, purge_deleted_orgs
from app.auth.core.policy import DEFAULT_POLICY
from app.projects.services import delete_org_projects

__all__ = ("ORG_PURGE_HOOKS", "PURGED_ACTION", "purge_orgs")

ORG_PURGE_HOOKS: tuple[OrgPurgeHook, ...] = (delete_org_projects,)
"""What the host removes for a purged organization; a fork adds its own org-scoped clean-up here."""

PURGED_ACTION = "org.purged"
log = structlog.get_logger(__name__)


async def purge_orgs(ctx: dict[str, Any]) -> dict[str, int]:
    """The job: purge organizations past their grace, recording one audit event for each."""
    security = ctx.get("security")
    clock = security.clock if security is not None else SystemClock()
    policy = security.policy if security is not None else ctx.get("policy", DEFAULT_POLICY)
    now = clock.now()
    async with AsyncSession(ctx["engine"]) as session, session.begin():
        purged = await purge_deleted_orgs(session, now, policy.org_deletion_grace, hooks=ORG_PURGE_HOOKS)
        for org_id in purged:
            await record_event(
                session,
                AuditRecord(
                    occurred_at=now,
                    action=PURGED_ACTION,
                    outcome="success",
                    target_type="organization",
                    target_id=str(org_id),
                    org_id=str(org_id),
                ),
            )
    log.info("orgs.purged", count=len(purged))
    return {"purged": len(purged)}
