"""`/admin/jobs`: the queue's counts, failed jobs with their error (retry one), the outbox backlog."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from saq.job import Job, Status
from saq.queue import Queue
from sqlalchemy import func, select

from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.outbox import OutboxJob
from app.web.flash import flash
from app.web.htmx import see_other

__all__ = ("AdminJobsController",)

FAILED_SHOWN = 50
FAILED_SCANNED = 500


async def failed_jobs(queue: Queue) -> list[Job]:
    """The newest failed jobs, on either queue (SAQ keeps a failed job until its ttl runs out).

    Both backends walk their failed jobs through `iter_jobs`: an indexed query on PostgreSQL, a
    key scan on Redis. The walk stops after `FAILED_SCANNED`, so a flood of failures cannot make
    the page slow; the newest of those are shown.
    """
    found: list[Job] = []
    # `aclosing`: stopping early must still hand the PostgreSQL connection back to the pool.
    walk: Any = queue.iter_jobs(statuses=[Status.FAILED])  # an async generator (typed as an iterator)
    async with aclosing(walk) as jobs:
        async for job in jobs:
            found.append(job)
            if len(found) >= FAILED_SCANNED:
                break
    found.sort(key=lambda job: job.completed or job.queued, reverse=True)
    return found[:FAILED_SHOWN]


class AdminJobsController(Controller):
    """Background jobs."""

    path = "/admin/jobs"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_jobs")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Queued, active and failed jobs, and what still waits in the outbox."""
        queue = request.app.state.jobs.queue
        backlog = (
            await db_session.execute(
                select(OutboxJob.task, func.count(), func.min(OutboxJob.created_at))
                .where(OutboxJob.sent_at.is_(None))
                .group_by(OutboxJob.task)
                .order_by(OutboxJob.task)
            )
        ).all()
        return Template(
            "admin/jobs.html",
            context={
                "admin_section": "jobs",
                "queued": await queue.count("queued"),
                "active": await queue.count("active"),
                "incomplete": await queue.count("incomplete"),
                "failed": await failed_jobs(queue),
                "backlog": backlog,
            },
            headers=NO_STORE,
        )

    @post("/retry", name="admin_job_retry", guards=[requires_sudo])
    async def retry(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Put one failed job back on the queue."""
        queue = request.app.state.jobs.queue
        job = await queue.job(str(data.get("key", ""))[:200])
        if job is None or job.status != "failed":
            flash(request, "That job is not waiting for a retry.", "info")
            return see_other(request, "/admin/jobs")
        await queue.retry(job, None)
        await audit(db_session, request, "admin.job.retried", actor_id=request.user.id, target_type="job",
                    target_id=job.key[:100], function=job.function)  # fmt: skip
        flash(request, "The job is queued again.", "success")
        return see_other(request, "/admin/jobs")
