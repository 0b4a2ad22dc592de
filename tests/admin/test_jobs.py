"""The jobs page: failed jobs with their error, and retrying one, on both queues (PostgreSQL, the
default, and Redis), with no worker running, so a failed job stays failed until retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from redis.asyncio import Redis
from saq.job import Status
from saq.queue import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.jobs import build_queue
from tests.admin.conftest import Admin
from tests.support.database import TEST_QUEUE, make_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_QUEUE = f"{TEST_QUEUE}-admin-jobs"
"""A queue of this test process only (the shared cleanup forgets `TEST_QUEUE*` names)."""


async def forget_redis_queue() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(f"saq:*{REDIS_QUEUE}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture(params=["postgres", "redis"])
async def app(
    request: pytest.FixtureRequest, database_url: str, db: AsyncSession, clock: FrozenClock
) -> AsyncIterator[Litestar]:
    """The app without its in-process worker, on the PostgreSQL queue or a Redis one."""
    if request.param == "redis":
        await forget_redis_queue()
        settings = make_settings(
            database_url, saq_in_process_worker=False, saq_redis_url=REDIS_URL, saq_queue_name=REDIS_QUEUE
        )
    else:
        settings = make_settings(database_url, saq_in_process_worker=False, saq_redis_url=None)
    yield create_app(settings, clock=clock)
    if request.param == "redis":
        await forget_redis_queue()


@pytest.fixture
async def queue(app: Litestar, admin: Admin) -> AsyncIterator[Queue]:
    """The app's queue, opened on the test's own event loop (the app serves from another one)."""
    queue = build_queue(app.state.settings)
    await queue.connect()
    yield queue
    await queue.disconnect()


async def test_a_failed_job_is_listed_with_its_error_and_can_be_retried(
    admin: Admin, queue: Queue, db: AsyncSession
) -> None:
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


async def test_only_a_failed_job_can_be_retried(admin: Admin, queue: Queue, db: AsyncSession) -> None:
    await queue.enqueue("send_email", key="mail-waiting", sealed="x")
    await admin.web.get("/admin/jobs")
    await admin.web.submit("/admin/jobs/retry", {"key": "mail-waiting"})
    page = await admin.web.get("/admin/jobs")
    assert "That job is not waiting for a retry." in page.text
    assert await db.scalar(select(AuditEvent.id).where(AuditEvent.action == "admin.job.retried")) is None


async def test_the_dashboard_counts_failed_jobs(admin: Admin, queue: Queue) -> None:
    job = await queue.enqueue("send_email", key="mail-that-failed", sealed="x")
    await queue.finish(job, Status.FAILED, error="boom")
    page = await admin.web.get("/admin/")
    assert "<strong>1 failed</strong>" in page.text
