"""The jobs page: failed jobs with their error, and retrying one (on the PostgreSQL queue, with no
worker running, so a failed job stays failed until retried)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from saq.job import Status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from tests.admin.conftest import Admin
from tests.support.database import make_settings


@pytest.fixture
def app(database_url: str, db: AsyncSession, clock: FrozenClock) -> Litestar:
    """The app without its in-process worker, so a failed job stays failed until retried."""
    settings = make_settings(database_url, saq_in_process_worker=False, saq_redis_url=None)
    return create_app(settings, clock=clock)


async def test_a_failed_job_is_listed_with_its_error_and_can_be_retried(
    admin: Admin, app: Litestar, db: AsyncSession
) -> None:
    queue = app.state.jobs.queue
    job = await queue.enqueue("send_email", key="mail-that-failed", sealed="x")
    await queue.finish(job, Status.FAILED, error="SMTPRecipientsRefused: mailbox unavailable")
    page = await admin.web.get("/admin/jobs")
    assert "SMTPRecipientsRefused: mailbox unavailable" in page.text
    assert 'value="mail-that-failed"' in page.text
    response = await admin.web.submit("/admin/jobs/retry", {"key": "mail-that-failed"})
    assert response.status_code == 303
    retried = await queue.job("mail-that-failed")
    assert retried is not None
    assert retried.status == Status.QUEUED
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.job.retried"))
    assert event is not None
    assert (event.actor_id, event.target_id) == (admin.user.id, "mail-that-failed")


async def test_only_a_failed_job_can_be_retried(admin: Admin, app: Litestar, db: AsyncSession) -> None:
    queue = app.state.jobs.queue
    await queue.enqueue("send_email", key="mail-waiting", sealed="x")
    await admin.web.get("/admin/jobs")
    await admin.web.submit("/admin/jobs/retry", {"key": "mail-waiting"})
    page = await admin.web.get("/admin/jobs")
    assert "That job is not waiting for a retry." in page.text
    assert await db.scalar(select(AuditEvent.id).where(AuditEvent.action == "admin.job.retried")) is None


async def test_the_dashboard_counts_failed_jobs(admin: Admin, app: Litestar) -> None:
    queue = app.state.jobs.queue
    job = await queue.enqueue("send_email", key="mail-that-failed", sealed="x")
    await queue.finish(job, Status.FAILED, error="boom")
    page = await admin.web.get("/admin/")
    assert "<strong>1 failed</strong>" in page.text
