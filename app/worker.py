"""The job worker: in the web process during development, its own process in production.

`make dev` runs the worker inside the app (one command, nothing else to start). Production runs
`make worker` (`litestar --app app.asgi:create_app worker`) as separate processes, as many as
the mail volume needs; the web processes then only enqueue.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from saq import CronJob, Worker

from app.auth.core.maintenance import purge_expired
from app.auth.lifecycle_tasks import build_data_export, purge_deleted_accounts
from app.features import enabled
from app.jobs import Jobs, build_queue, task_options
from app.mail.tasks import relay_outbox, send_email, worker_shutdown, worker_startup

if TYPE_CHECKING:
    from litestar import Litestar
    from saq.queue import Queue

    from app.settings import Settings

log = structlog.get_logger(__name__)


def worker_tasks() -> tuple[Any, ...]:
    """Every function a worker may run. Each must have its options declared in `app.jobs.task_options`.

    A switched-off feature's tasks stay registered, so jobs queued before it was switched off still
    run; a removed feature's block is gone with it (`scripts/remove_feature.py`).
    """
    tasks: list[Any] = [send_email, purge_expired, relay_outbox, build_data_export, purge_deleted_accounts]
    # --- feature: admin
    from app.admin.tasks import verify_audit_log

    tasks.append(verify_audit_log)
    # --- end feature: admin
    # --- feature: webhooks
    from app.api.webhooks import deliver_webhook

    tasks.append(deliver_webhook)
    # --- end feature: webhooks
    tasks += webhook_cron_tasks()
    tasks += org_cron_tasks()
    return tuple(tasks)


def webhook_cron_tasks() -> list[Any]:
    """The webhooks' retry sweep (empty once webhooks are removed)."""
    found: list[Any] = []
    # --- feature: webhooks
    from app.api.webhooks import retry_webhooks

    found.append(retry_webhooks)
    # --- end feature: webhooks
    return found


def org_cron_tasks() -> list[Any]:
    """The purge of deleted organizations (empty once organizations are removed).

    It runs even with FEATURE_ORGS off: organizations made before, and the solo organizations of
    a purged account, still go when their grace is over.
    """
    found: list[Any] = []
    # --- feature: orgs
    from app.orgs.tasks import purge_orgs

    found.append(purge_orgs)
    # --- end feature: orgs
    return found


def cron_jobs(settings: Settings) -> list[CronJob[Any]]:
    """Periodic jobs (unique per queue: several workers still run each once per slot)."""
    purge = task_options("purge_expired", settings)
    relay = task_options("relay_outbox", settings)
    accounts = task_options("purge_deleted_accounts", settings)
    jobs: list[CronJob[Any]] = [
        CronJob(
            purge_deleted_accounts,
            cron="17 * * * *",
            timeout=accounts.timeout,
            retries=accounts.retries,
            ttl=accounts.ttl,
        ),
        CronJob(
            purge_expired, cron="*/10 * * * *", timeout=purge.timeout, retries=purge.retries, ttl=purge.ttl
        ),
        CronJob(relay_outbox, cron="* * * * *", timeout=relay.timeout, retries=relay.retries, ttl=relay.ttl),
    ]
    orgs = task_options("purge_orgs", settings)
    jobs += [
        CronJob(task, cron="23 * * * *", timeout=orgs.timeout, retries=orgs.retries, ttl=orgs.ttl)
        for task in org_cron_tasks()
    ]
    if enabled(settings, "webhooks"):
        hooks = task_options("retry_webhooks", settings)
        jobs += [
            CronJob(retry, cron="* * * * *", timeout=hooks.timeout, retries=hooks.retries, ttl=hooks.ttl)
            for retry in webhook_cron_tasks()
        ]
    return jobs


def build_worker(queue: Queue, settings: Settings, *, handle_signals: bool) -> Worker[Any]:
    """A worker for `queue` that runs `worker_tasks()`."""
    worker: Worker[Any] = Worker(
        queue,
        functions=list(worker_tasks()),
        cron_jobs=cron_jobs(settings),
        concurrency=settings.saq_concurrency,
        startup=partial(worker_startup, settings),
        shutdown=worker_shutdown,
        # A standalone worker gets time to finish jobs on SIGTERM. In the web process a reload or
        # Ctrl-C should be quick; an interrupted job is swept and retried by the next worker.
        shutdown_grace_period_s=10 if handle_signals else settings.saq_shutdown_grace,
        poll_interval=0.5,
    )
    if not handle_signals:
        # Inside the web process the server owns SIGINT/SIGTERM; it stops us through on_shutdown.
        worker.SIGNALS = []
    return worker


async def start_jobs(app: Litestar) -> None:
    """Startup hook: connect the queue, expose `app.state.jobs`, start the in-process worker if wanted."""
    settings: Settings = app.state.settings
    queue = build_queue(settings)
    app.state.jobs = Jobs(queue, settings)
    app.state.worker = None
    try:
        await queue.connect()
    except Exception:
        # Serve pages anyway: /healthz reports the queue as down and enqueueing retries the connection.
        log.exception("queue.unavailable_at_startup")
        return
    if settings.run_worker_in_process:
        worker = build_worker(queue, settings, handle_signals=False)
        worker.context["security"] = app.state.security  # jobs share the app's toolkit (and test clock)
        app.state.worker = worker
        app.state.worker_task = asyncio.create_task(worker.start(), name="saq-worker")


async def stop_jobs(app: Litestar) -> None:
    """Shutdown hook: let running jobs finish (within the grace period), then disconnect."""
    worker: Worker[Any] | None = app.state.get("worker")
    if worker is not None:
        worker.event.set()
        await app.state.worker_task
    jobs: Jobs | None = app.state.get("jobs")
    if jobs is not None:
        try:
            await jobs.queue.disconnect()
        except Exception:  # the backend is already gone; nothing left to close cleanly
            log.warning("queue.disconnect_failed", exc_info=True)


async def run_worker(settings: Settings) -> None:
    """Run a standalone worker until SIGINT/SIGTERM (the `litestar worker` command)."""
    queue = build_queue(settings)
    await queue.connect()
    try:
        await build_worker(queue, settings, handle_signals=True).start()
    finally:
        await queue.disconnect()
