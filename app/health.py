"""Health check: can this process reach its database and its job queue right now?"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from litestar import Litestar, MediaType, Request, Response, get
from sqlalchemy import text

from app.outbox import stale_count

log = structlog.get_logger(__name__)
_CHECK_TIMEOUT = 3.0


async def check_health(app: Litestar) -> dict[str, str]:
    """`ok` or `error` for the database and the queue; `stale` when the outbox has old unsent jobs."""
    report = {"database": await _probe(_database(app)), "queue": await _probe(_queue(app))}
    if report["database"] == "ok":
        report["outbox"] = await _outbox(app)
    return report


async def _outbox(app: Litestar) -> str:
    try:
        stale = await asyncio.wait_for(stale_count(app.state.db_config.get_engine()), _CHECK_TIMEOUT)
    except Exception as exc:  # a health check reports failures, it does not raise them
        log.warning("health.check_failed", check="outbox", error=type(exc).__name__)
        return "error"
    return "stale" if stale else "ok"


async def _database(app: Litestar) -> None:
    async with app.state.db_config.get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _queue(app: Litestar) -> None:
    await app.state.jobs.ping()


async def _probe(check: Any) -> str:
    try:
        await asyncio.wait_for(check, _CHECK_TIMEOUT)
    except Exception as exc:  # a health check reports failures, it does not raise them
        log.warning("health.check_failed", error=type(exc).__name__)
        return "error"
    return "ok"


@get("/healthz", name="healthz", media_type=MediaType.JSON, include_in_schema=False)
async def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """200 when the database and queue answer (`degraded` if the outbox is stale), 503 otherwise."""
    report = await check_health(request.app)
    # A stale outbox is worth attention but the app still serves: degraded, yet 200.
    serving = report["database"] == "ok" and report["queue"] == "ok"
    healthy = serving and all(value == "ok" for value in report.values())
    return Response(
        {"status": "ok" if healthy else "degraded", **report}, status_code=200 if serving else 503
    )
