"""Background jobs: the SAQ queue, the task registry, and the outbox that waits for commits.

The queue lives in the app's PostgreSQL by default (SAQ's PostgresQueue) and in Redis when
`SAQ_REDIS_URL` is set. In development the worker runs inside the web process; in production it is
its own process (`make worker`, i.e. `litestar worker`); see `app.worker`.

Code that wants a job done while handling a request calls `defer(db_session, task, ...)`. Nothing is
enqueued until the request's transaction commits (see `app.db`), so a rolled-back registration
never sends its confirmation mail. Arguments passed as `sealed` are encrypted before they are
written to the queue, so links with tokens in them never sit there in the clear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from saq.queue import Queue

from app.auth.core.crypto import Cipher, derive_key

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
    if task == "purge_expired":
        # Idempotent and periodic: if one run fails, the next one ten minutes later catches up.
        return TaskOptions(timeout=120, retries=1, ttl=3600)
    raise LookupError(f"unknown task {task!r}: add it to TASKS and declare its options here")


@dataclass(frozen=True)
class PendingJob:
    """A job waiting for its transaction to commit."""

    task: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    sealed: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


def job_cipher(settings: Settings) -> Cipher:
    """The cipher for sealed job arguments (key derived from SECRET_KEY for this purpose only)."""
    return Cipher({"k1": derive_key(settings.secret, "gatehouse/job-payload/v1")}, active="k1")


class Jobs:
    """The app's handle on the queue: enqueue tasks with their declared options."""

    def __init__(self, queue: Queue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
        self.cipher = job_cipher(settings)

    async def enqueue(self, job: PendingJob) -> Job | None:
        """Put `job` on the queue now (callers inside a request use `defer` instead)."""
        options = task_options(job.task, self.settings)
        await self.queue.connect()  # a no-op once connected; retries after a failed startup
        kwargs = dict(job.kwargs)
        if job.sealed:
            kwargs["sealed"] = seal(self.cipher, job.sealed)
        extra = {"key": job.key} if job.key else {}
        enqueued = await self.queue.enqueue(
            job.task,
            timeout=options.timeout,
            retries=options.retries,
            ttl=options.ttl,
            retry_delay=options.retry_delay,
            retry_backoff=options.retry_backoff,
            **extra,
            **kwargs,
        )
        log.info("job.enqueued", task=job.task, key=enqueued.key if enqueued else job.key)
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


def defer(
    session: AsyncSession,
    task: str,
    *,
    sealed: dict[str, Any] | None = None,
    key: str | None = None,
    **kwargs: Any,
) -> None:
    """Enqueue `task` once `session`'s transaction commits; drop it if it rolls back."""
    pending: list[PendingJob] = session.info.setdefault("outbox", [])
    pending.append(PendingJob(task=task, kwargs=kwargs, sealed=sealed or {}, key=key))


async def dispatch_outbox(session: AsyncSession, scope: Scope) -> None:
    """Enqueue what the committed transaction deferred (runs right after a request's commit)."""
    pending: list[PendingJob] = session.info.pop("outbox", [])
    if not pending:
        return
    jobs: Jobs = scope["litestar_app"].state.jobs
    for job in pending:
        try:
            await jobs.enqueue(job)
        except Exception:  # the data is committed; report loudly rather than fail the response
            log.exception("job.enqueue_failed", task=job.task)


def build_queue(settings: Settings) -> Queue:
    """The job queue: Redis when SAQ_REDIS_URL is set, else PostgreSQL tables in the app database."""
    if settings.saq_redis_url:
        return Queue.from_url(settings.saq_redis_url, name=settings.saq_queue_name)
    # A web process enqueues a few jobs per request at most: keep its queue pool small.
    return Queue.from_url(settings.psycopg_url, name=settings.saq_queue_name, min_size=1, max_size=4)
