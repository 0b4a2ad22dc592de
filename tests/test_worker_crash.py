"""A worker killed in the middle of sending a mail: the mail is still delivered, once.

Everything is real: the mail is queued through the app, standalone workers run as their own
processes (`litestar worker`, as in production), and the SMTP server is aiosmtpd. The first
worker is killed with SIGKILL while its DATA is in flight: the server has the message but has not
answered, so for the sender nothing was delivered. A second worker then finds the job stuck and
runs it again.

How soon is set by SAQ, not by this test. A job counts as stuck once it has been active for longer
than its timeout (for `send_email`: SMTP_TIMEOUT + 10 s, see `app.jobs.task_options`; jobs send
no heartbeat), and stuck jobs are swept when a worker starts and then every 60 s; sweeping a job
whose worker is gone waits 5 s for that worker to acknowledge the abort before the job is retried.
So the second worker is started once the job's timeout has passed: its first sweep retries it.
A worker that was already running would retry it at its next sweep, up to a minute later.

With the Redis queue the killed worker also leaves the queue's sweep lock behind (a key that lives
60 s; on PostgreSQL it is an advisory lock that dies with the connection). The test deletes that
key, as the minute passing would, instead of waiting the minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from saq.job import Status
from saq.queue import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.asgi import create_app
from app.jobs import build_queue
from app.outbox import OutboxJob
from app.settings import Settings
from tests.support.database import TEST_QUEUE, TEST_SECRET
from tests.support.mail import free_port
from tests.support.web import BASE_URL, WebClient

pytestmark = pytest.mark.heavy(seconds=30)

ROOT = Path(__file__).resolve().parents[1]
LITESTAR = Path(sys.executable).parent / "litestar"

SMTP_TIMEOUT = 1.0  # the task's timeout is int(SMTP_TIMEOUT) + 10 = 11 s
RECIPIENT = "crash@example.com"
IN_FLIGHT_WITHIN = 30.0  # seconds for the first worker to start and reach DATA
DELIVERED_WITHIN = 30.0  # seconds from the second worker's start to the delivery (5 s of it: the abort wait)


# --- an SMTP server that keeps the first message waiting for its answer ---------------------------


@dataclass
class HoldingHandler:
    """Holds the first DATA unanswered (the sender is mid-send) and accepts every later message.

    `on_first_data` runs the moment the first message has arrived, on the server's thread: that is
    where the test kills the sender, so the kill cannot come after the sender's own SMTP timeout.
    A held message is never accepted: its sender died before any 250 reply could reach it.
    """

    on_first_data: Any = None
    arrivals: int = 0
    held: list[EmailMessage] = field(default_factory=list)
    accepted: list[EmailMessage] = field(default_factory=list)
    first_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.arrivals += 1
        message = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        if self.arrivals == 1:
            if self.on_first_data is not None:
                self.on_first_data()
            self.held.append(message)
            self.first_arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 the sender went away"
        self.accepted.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def holding_sink() -> Iterator[tuple[HoldingHandler, int]]:
    handler = HoldingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


# --- standalone worker processes ------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """`litestar worker` in a process group of its own, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, name: str, env: dict[str, str], workdir: Path) -> WorkerProcess:
        log_path = workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(LITESTAR), "--app", "app.asgi:create_app", "worker"],
                cwd=workdir,  # not the project root: a developer's .env must not leak in
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log_path)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Kill it: a standalone worker's SIGTERM shutdown always waits out its 10 s grace period
        (SAQ's upkeep loops sleep through it), and nothing is left running by now."""
        if self.process.poll() is None:
            self.kill()
            self.process.wait(10)

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} ---\n{text[-10_000:]}"


def worker_env(settings: Settings, smtp_port: int) -> dict[str, str]:
    """The environment of a production-style worker on the test database and queue."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": settings.database_url,
        "BASE_URL": BASE_URL,
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": str(SMTP_TIMEOUT),
        "MAIL_RETRY_DELAY": "0.2",
        "SAQ_QUEUE_NAME": settings.saq_queue_name,
        "LOG_LEVEL": "INFO",
    }
    if settings.saq_redis_url:
        env["SAQ_REDIS_URL"] = settings.saq_redis_url
    if os.environ.get("XDG_RUNTIME_DIR"):
        env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    return env


async def wait_until(condition: Any, timeout: float, what: str, logs: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s\n{logs() if logs else ''}")
        await asyncio.sleep(0.05)


async def the_job(queue: Queue, engine: AsyncEngine) -> Any:
    """The queue's job for the one outbox row."""
    async with AsyncSession(engine) as session:
        row = (await session.scalars(select(OutboxJob))).one()
    job = await queue.job(row.job_key)
    assert job is not None, "the mail's job is not on the queue"
    return job


async def forget_the_dead_workers_sweep_lock(queue: Queue) -> None:
    """Redis only: what the minute after the kill would do to the sweep lock the dead worker held."""
    redis: Redis = queue.redis  # type: ignore[attr-defined]
    await redis.delete(queue.namespace("sweep"))  # type: ignore[attr-defined]


# --- the test -------------------------------------------------------------------------------------


async def test_a_worker_killed_mid_send_leaves_the_mail_to_the_next_worker_which_sends_it_once(
    settings: Settings,
    engine: AsyncEngine,
    db: AsyncSession,
    holding_sink: tuple[HoldingHandler, int],
    tmp_path: Path,
) -> None:
    handler, smtp_port = holding_sink
    web_settings = settings.model_copy(
        update={
            "saq_in_process_worker": False,  # only the standalone workers run jobs
            "saq_queue_name": f"{TEST_QUEUE}-crash-{uuid.uuid4().hex[:8]}",
            "mail_backend": "smtp",
            # The job's timeout is fixed when it is enqueued, from the enqueuing process's settings.
            "smtp_timeout": SMTP_TIMEOUT,
        }
    )
    env = worker_env(web_settings, smtp_port)
    workers: list[WorkerProcess] = []

    def logs() -> str:
        return "\n".join(worker.log() for worker in workers)

    queue = build_queue(web_settings)
    await queue.connect()
    try:
        async with AsyncTestClient(app=create_app(web_settings), base_url=BASE_URL) as client:
            web = WebClient(client)
            response = await web.submit("/dev/mailbox/test", {"to": RECIPIENT})
            assert response.status_code == 303
        job = await the_job(queue, engine)
        assert job.status == Status.QUEUED

        handler.on_first_data = lambda: workers[0].kill()  # SIGKILL the moment the message is on the wire
        first = WorkerProcess.start("first worker", env, tmp_path)
        workers.append(first)
        await wait_until(handler.first_arrived.is_set, IN_FLIGHT_WITHIN, "the first send", logs)
        assert await asyncio.to_thread(first.process.wait, 10) == -signal.SIGKILL

        job = await the_job(queue, engine)
        assert job.status == Status.ACTIVE, "the killed worker's job is left active (it timed out itself?)"
        assert job.attempts == 1
        assert handler.accepted == [], "the held message was never accepted"

        # The job becomes stuck once it has run for longer than its timeout; then start the next worker.
        stuck_at = job.started / 1000 + job.timeout
        assert job.timeout == int(SMTP_TIMEOUT) + 10
        await asyncio.sleep(max(0.0, stuck_at - time.time()) + 0.5)
        if web_settings.saq_redis_url:
            await forget_the_dead_workers_sweep_lock(queue)
        second = WorkerProcess.start("second worker", env, tmp_path)
        workers.append(second)
        await wait_until(lambda: len(handler.accepted) >= 1, DELIVERED_WITHIN, "the retried delivery", logs)

        [message] = handler.accepted
        assert message["To"] == RECIPIENT
        assert message["Message-ID"] == handler.held[0]["Message-ID"], "the same mail, sent again"
        job = await the_job(queue, engine)
        for _ in range(40):  # the worker marks the job complete right after the 250
            if job.status == Status.COMPLETE:
                break
            await asyncio.sleep(0.05)
            job = await the_job(queue, engine)
        assert job.status == Status.COMPLETE, (job.status, job.error, logs())
        assert job.attempts == 2, "run once by the killed worker, once by the second"

        await asyncio.sleep(0.5)  # a duplicate would be on its way by now
        assert handler.arrivals == 2, f"two sends (one killed, one delivered), not {handler.arrivals}"
        assert len(handler.accepted) == 1
        assert second.process.poll() is None, logs()
    finally:
        for worker in workers:
            await asyncio.to_thread(worker.stop)
        await queue.disconnect()
