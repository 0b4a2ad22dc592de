"""Background jobs: the SAQ queue, the task registry, and the outbox that waits for commits.

The queue lives in the app's PostgreSQL by default (SAQ's PostgresQueue) and in Redis when
`SAQ_REDIS_URL` is set. In development the worker runs inside the web process; in production it is
its own process (`make worker`, i.e. `litestar worker`); see `app.worker`.

Code that wants a job done while handling a request calls `defer(db_session, task, ...)`: the job
becomes a row of the outbox (`app.outbox`) in the request's own transaction, so a rolled-back
registration never sends its confirmation mail and a committed one always does, even when the
queue is down at that moment. Arguments passed as `sealed` are encrypted before they are written
anywhere, so links with tokens in them never sit in the database or the queue in the clear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from saq.queue import Queue

from app.auth.core.crypto import Cipher, derive_key
from app.outbox import OutboxJob, added_rows, relay_after_commit

if TYPE_CHECKING:
    from litestar.types import Scope
    from saq.job import Job
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TaskOptions:
    """What every task must declare: how long one run may take, how often to retry, how long to keep it."""

    timeout: int
    retries: int
    ttl: int
    retry_delay: float = 0.0
    retry_backoff: bool | float = False


def task_options(task: str, settings: Settings) -> TaskOptions:
    """The declared options of `task` under `settings`."""
    if task == "send_email":
        # SMTP outages are common and short: retry with exponential backoff capped at 10 minutes.
        return TaskOptions(
            timeout=int(settings.smtp_timeout) + 10,
            retries=settings.mail_retries,
            ttl=7 * 24 * 3600,
            retry_delay=settings.mail_retry_delay,
            retry_backoff=600,
        )
    if task == "relay_outbox":
        # Every minute; a failed sweep is simply followed by the next one.
        return TaskOptions(timeout=60, retries=1, ttl=600)
    if task == "purge_expired":
        # Idempotent and periodic: if one run fails, the next one ten minutes later catches up.
        return TaskOptions(timeout=120, retries=1, ttl=3600)
    if task == "deliver_webhook":
        # One attempt per job: failures are rescheduled by the delivery itself (`retry_webhooks`).
        return TaskOptions(timeout=60, retries=1, ttl=24 * 3600)
    if task == "retry_webhooks":
        # Every minute; an attempt it misses is due again at the next run.
        return TaskOptions(timeout=300, retries=1, ttl=600)
    if task == "purge_orgs":
        # Hourly and idempotent: a failed run is caught up by the next one.
        return TaskOptions(timeout=300, retries=1, ttl=3600)
    if task == "build_data_export":
        # Reads one user's rows; a failed build is retried a little later (it is idempotent).
        return TaskOptions(timeout=120, retries=3, ttl=24 * 3600, retry_delay=60, retry_backoff=True)
    if task == "purge_deleted_accounts":
        # Hourly and idempotent: an account a failed run missed is purged by the next one.
        return TaskOptions(timeout=600, retries=1, ttl=3600)
    if task == "verify_audit_log":
        # Reads the whole log once; asked for by hand from the admin console, so no retry storm.
        return TaskOptions(timeout=600, retries=1, ttl=24 * 3600)
    raise LookupError(
        f"unknown task {task!r}: add it to app.worker.worker_tasks and declare its options here"
    )


def job_cipher(settings: Settings) -> Cipher:
    """The cipher for sealed job arguments (key derived from SECRET_KEY for this purpose only)."""
    return Cipher({"k1": derive_key(settings.secret, "gatehouse/job-payload/v1")}, active="k1")


class Jobs:
    """The app's handle on the queue: enqueue tasks with their declared options."""

    def __init__(self, queue: Queue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
        self.cipher = job_cipher(settings)

    async def enqueue_row(self, row: OutboxJob) -> Job | None:
        """Put an outbox row on the queue as the job `row.job_key` (None: that job exists already)."""
        options = task_options(row.task, self.settings)
        await self.queue.connect()  # a no-op once connected; retries after a failed startup
        kwargs = dict(row.kwargs)
        if row.sealed:
            kwargs["sealed"] = row.sealed
        enqueued = await self.queue.enqueue(
            row.task,
            key=row.job_key,
            timeout=options.timeout,
            retries=options.retries,
            ttl=options.ttl,
            retry_delay=options.retry_delay,
            retry_backoff=options.retry_backoff,
            **kwargs,
        )
        log.info("job.enqueued", task=row.task, key=row.job_key, new=enqueued is not None)
        return enqueued

    async def ping(self) -> None:
        """Raise unless the queue's backend answers."""
        await self.queue.connect()
        await self.queue.count("queued")


def seal(cipher: Cipher, payload: dict[str, Any]) -> str:
    """Encrypt a JSON-able payload for the queue."""
    return cipher.seal(json.dumps(payload, separators=(",", ":")).encode(), b"job")


def unseal(cipher: Cipher, sealed: str) -> dict[str, Any]:
    """Decrypt a payload made by `seal`."""
    payload: dict[str, Any] = json.loads(cipher.open(sealed, b"job"))
    return payload


JOB_CIPHER_INFO_KEY = "job_cipher"
"""Where a session that may defer jobs carries the job cipher (`Session.info`, see `app.db`)."""


def defer(session: AsyncSession, task: str, *, sealed: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Have `task` run once `session`'s transaction commits: an outbox row in that transaction."""
    cipher: Cipher | None = session.info.get(JOB_CIPHER_INFO_KEY)
    if cipher is None:
        raise RuntimeError("this session cannot defer jobs: it was not made by the app's database config")
    row = OutboxJob(task=task, kwargs=kwargs, sealed=seal(cipher, sealed) if sealed else None)
    session.add(row)
    added_rows(session).append(row)


async def dispatch_outbox(session: AsyncSession, scope: Scope) -> None:
    """Relay what the committed transaction deferred (runs right after a request's commit)."""
    read_only = scope.get("method") in ("GET", "HEAD", "OPTIONS")
    if session.info.get("outbox_committed") or (read_only and session.info.get("outbox_rows")):
        await relay_after_commit(session, scope["litestar_app"].state.jobs, autocommitted=read_only)


def build_queue(settings: Settings) -> Queue:
    """The job queue: Redis when SAQ_REDIS_URL is set, else PostgreSQL tables in the app database."""
    if settings.saq_redis_url:
        return Queue.from_url(settings.saq_redis_url, name=settings.saq_queue_name)
    # A web process enqueues a few jobs per request at most: keep its queue pool small.
    return Queue.from_url(settings.psycopg_url, name=settings.saq_queue_name, min_size=1, max_size=4)
