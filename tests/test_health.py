"""GET /healthz reports whether the database and the job queue answer."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
from tests.support.web import BASE_URL, WebClient


async def test_health_is_ok_when_database_and_queue_answer(web: WebClient) -> None:
    response = await web.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "queue": "ok", "outbox": "ok"}


async def test_health_is_degraded_when_the_queue_cannot_be_reached(
    settings: Settings, db: AsyncSession
) -> None:
    # Nothing listens on port 1: the queue's backend is down while the database is fine.
    unreachable = settings.model_copy(
        update={"saq_redis_url": "redis://127.0.0.1:1/0", "saq_in_process_worker": False}
    )
    async with AsyncTestClient(app=create_app(unreachable), base_url=BASE_URL) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "queue": "error", "outbox": "ok"}
