"""The account-lifecycle jobs: build a data export, and purge deleted accounts past their grace period.

The flows are the core's (`app.auth.core.data_export`, `app.auth.core.account_deletion`); these
functions only give them the worker's engine, toolkit and outbox. Both are idempotent, so a retry
or two workers running the same slot change nothing twice.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.account_deletion import purge_due_accounts
from app.auth.core.data_export import build_export, purge_stale_exports
from app.jobs import JOB_CIPHER_INFO_KEY
from app.outbox import relay_after_commit

__all__ = ("build_data_export", "purge_deleted_accounts")

log = structlog.get_logger(__name__)


async def build_data_export(ctx: dict[str, Any], *, export_id: str) -> bool:
    """The job: build one export and mail its link (the mail leaves through the outbox)."""
    async with AsyncSession(
        ctx["engine"], expire_on_commit=False, info={JOB_CIPHER_INFO_KEY: ctx["cipher"]}
    ) as db:
        built = await build_export(db, ctx["security"], UUID(export_id))
        await db.commit()
        if ctx.get("jobs") is not None:
            await relay_after_commit(db, ctx["jobs"])
    log.info("account.export.built", export_id=export_id, built=built)
    return built


async def purge_deleted_accounts(ctx: dict[str, Any]) -> dict[str, int]:
    """The periodic job: purge accounts past their grace period, empty expired export archives."""
    security = ctx["security"]
    purged = await purge_due_accounts(ctx["engine"], security)
    async with AsyncSession(ctx["engine"]) as db:
        emptied = await purge_stale_exports(db, security.clock.now())
        await db.commit()
    log.info("account.purge.ran", accounts=purged, exports_emptied=emptied)
    return {"accounts": purged, "exports_emptied": emptied}
