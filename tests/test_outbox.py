"""The job outbox: a mail committed is a mail sent, whatever fails between the commit and the queue.

Faults are injected for real: the queue's connection pool is closed, the web process is killed
with SIGKILL right after its commit. Delivery goes through a real SAQ worker into the dev mailbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.asgi import create_app
from app.jobs import Jobs, build_queue
from app.outbox import STALE_AFTER, OutboxJob, stale_count, sweep
from app.settings import Settings
from app.worker import build_worker
from tests.support.mail import Mailbox
from tests.support.redis import RedisProcess
from tests.support.web import BASE_URL, WebClient

LATER = timedelta(seconds=30)
"""Sweeps in these tests look this far ahead, past the grace an in-flight relay gets."""


def postgres_queue_settings(settings: Settings, name: str) -> Settings:
    """Enqueue-only settings on the PostgreSQL queue (its pool is what the tests close)."""
    return settings.model_copy(
        update={"saq_redis_url": None, "saq_in_process_worker": False, "saq_queue_name": name}
    )


async def outbox_rows(engine: AsyncEngine) -> list[OutboxJob]:
    async with AsyncSession(engine) as session:
        return list((await session.scalars(select(OutboxJob).order_by(OutboxJob.created_at))).all())


@get("/test/close-queue", status_code=204, include_in_schema=False)
async def close_the_queue(request: Request[Any, Any, Any]) -> None:
    """Close the queue's connection pool for real, on the app's own event loop."""
    await request.app.state.jobs.queue.disconnect()


@asynccontextmanager
async def a_worker(settings: Settings) -> AsyncIterator[Jobs]:
    """A real worker on a fresh connection to the queue (the queue "is back"); its `Jobs` handle."""
    queue = build_queue(settings)
    await queue.connect()
    worker = build_worker(queue, settings, handle_signals=False)
    task = asyncio.create_task(worker.start())
    try:
        yield Jobs(queue, settings)
    finally:
        worker.event.set()
        await task
        await queue.disconnect()


async def test_a_mail_committed_while_the_queue_is_down_is_delivered_once_when_it_is_back(
    settings: Settings, engine: AsyncEngine, mailbox: Mailbox, db: AsyncSession
) -> None:
    queued_only = postgres_queue_settings(settings, "outbox-queue-down")
    app = create_app(queued_only)
    app.register(close_the_queue)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.get("/")
        assert (await web.get("/test/close-queue")).status_code == 204
        response = await web.submit("/dev/mailbox/test", {"to": "grace@example.com"})
        assert response.status_code == 303, "the request succeeds: its mail waits in the outbox"
    [row] = await outbox_rows(engine)
    assert (row.task, row.sent_at) == ("send_email", None)
    assert "grace@example.com" not in (row.sealed or ""), "sealed at rest"
    assert row.kwargs == {}

    async with a_worker(queued_only) as jobs:
        assert await sweep(engine, jobs, now=datetime.now(UTC) + LATER) == 1
        await mailbox.wait_for("grace@example.com")
        assert await sweep(engine, jobs, now=datetime.now(UTC) + LATER) == 0, "relayed once, marked sent"
    assert len(await mailbox.messages("grace@example.com")) == 1


async def test_a_mail_committed_while_the_redis_queue_is_stopped_is_delivered_once_it_is_back(
    settings: Settings, engine: AsyncEngine, mailbox: Mailbox, db: AsyncSession, redis_server: RedisProcess
) -> None:
    on_redis = settings.model_copy(
        update={
            "saq_redis_url": redis_server.url,
            "saq_in_process_worker": False,
            "saq_queue_name": "outbox-redis",
        }
    )
    app = create_app(on_redis)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.get("/")
        redis_server.kill()  # the queue's server is gone
        response = await web.submit("/dev/mailbox/test", {"to": "redis-down@example.com"})
        assert response.status_code == 303
    [row] = await outbox_rows(engine)
    assert row.sent_at is None

    redis_server.start()
    async with a_worker(on_redis) as jobs:
        assert await sweep(engine, jobs, now=datetime.now(UTC) + LATER) == 1
        await mailbox.wait_for("redis-down@example.com")
    assert len(await mailbox.messages("redis-down@example.com")) == 1


async def test_relaying_a_row_twice_still_makes_one_job_and_one_mail(
    settings: Settings, engine: AsyncEngine, mailbox: Mailbox, db: AsyncSession
) -> None:
    queued_only = postgres_queue_settings(settings, "outbox-twice")
    app = create_app(queued_only)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.submit("/dev/mailbox/test", {"to": "twice@example.com"})
    [row] = await outbox_rows(engine)
    assert row.sent_at is not None, "relayed right after the commit"
    async with AsyncSession(engine) as session:  # as if that relay's "sent" mark had been lost
        await session.execute(text("UPDATE job_outbox SET sent_at = NULL"))
        await session.commit()
    async with a_worker(queued_only) as jobs:
        assert await sweep(engine, jobs, now=datetime.now(UTC) + LATER) == 1  # the same key again
        await mailbox.wait_for("twice@example.com")
        await asyncio.sleep(0.5)  # a duplicate would have been delivered by now
    assert len(await mailbox.messages("twice@example.com")) == 1


KILLED_AFTER_COMMIT = """
import asyncio, os, signal, sys
sys.path.insert(0, os.getcwd())
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from app.jobs import JOB_CIPHER_INFO_KEY, job_cipher
from app.mail import Mail, send_mail
from tests.support.database import make_settings

async def main() -> None:
    settings = make_settings(os.environ["OUTBOX_DATABASE_URL"])
    engine = create_async_engine(settings.sqlalchemy_url)
    async with AsyncSession(engine, info={JOB_CIPHER_INFO_KEY: job_cipher(settings)}) as session:
        send_mail(session, Mail(to="killed@example.com", template="test_message"))
        await session.commit()
    os.kill(os.getpid(), signal.SIGKILL)  # after the commit, before any relay

asyncio.run(main())
"""


async def test_a_web_process_killed_between_commit_and_relay_loses_no_mail(
    settings: Settings, engine: AsyncEngine, mailbox: Mailbox, db: AsyncSession
) -> None:
    env = {**os.environ, "OUTBOX_DATABASE_URL": settings.database_url}
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_AFTER_COMMIT, env=env)
    assert await asyncio.wait_for(process.wait(), 60) == -signal.SIGKILL
    [row] = await outbox_rows(engine)
    assert row.sent_at is None
    async with a_worker(postgres_queue_settings(settings, "outbox-killed")) as jobs:
        assert await sweep(engine, jobs, now=datetime.now(UTC) + LATER) == 1
        await mailbox.wait_for("killed@example.com")
    assert len(await mailbox.messages("killed@example.com")) == 1


async def test_old_unsent_rows_are_reported_and_old_sent_rows_pruned(
    settings: Settings, engine: AsyncEngine, db: AsyncSession
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    db.add_all(
        [
            OutboxJob(task="send_email", kwargs={}, created_at=long_ago, sent_at=long_ago),
            OutboxJob(task="send_email", kwargs={}, created_at=datetime.now(UTC) - 2 * STALE_AFTER),
        ]
    )
    await db.commit()
    assert await stale_count(engine) == 1
    # No worker in this app: its startup sweep would relay the stale row before /healthz looks.
    app = create_app(settings.model_copy(update={"saq_in_process_worker": False}))
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["outbox"] == "stale"

    queued_only = postgres_queue_settings(settings, "outbox-prune")
    queue = build_queue(queued_only)
    await queue.connect()
    try:
        await sweep(engine, Jobs(queue, queued_only))
    finally:
        await queue.disconnect()
    rows = await outbox_rows(engine)
    assert len(rows) == 1, "the month-old sent row was pruned"
    assert rows[0].sent_at is not None, "the stale one was relayed"
