"""The rate-limit Redis goes down and comes back: sign-in fails closed meanwhile, nothing else stops.

The test starts a Redis server of its own and kills it for real (SIGKILL), then starts it again on
the same port. It needs the `redis-server` program (CI has it; elsewhere the test says so).
"""

from __future__ import annotations

import time

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.settings import Settings
from tests.support.redis import RedisProcess
from tests.support.web import BASE_URL, WebClient


async def sign_in_attempt(web: WebClient) -> int:
    await web.get("/login")
    response = await web.submit("/login", {"email": "nobody@example.com", "password": "wrong password here"})
    return response.status_code


async def test_sign_in_fails_closed_while_redis_is_down_and_recovers_by_itself(
    settings: Settings, redis_server: RedisProcess, db: AsyncSession
) -> None:
    with_redis = settings.model_copy(
        update={"ratelimit_redis_url": f"redis://127.0.0.1:{redis_server.port}/0"}
    )
    app = create_app(with_redis)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        assert await sign_in_attempt(web) == 422  # counted in Redis, then the generic failure

        redis_server.kill()
        started = time.monotonic()
        refused = await web.submit(
            "/login", {"email": "nobody@example.com", "password": "wrong password here"}
        )
        assert refused.status_code == 429, "fail closed: no count, no sign-in"
        assert refused.headers["retry-after"]
        assert "Too many requests" in refused.text
        assert time.monotonic() - started < 10, "refused within the store's timeouts, not hung"
        home = await web.get("/")
        assert home.status_code == 200, "pages that count nothing keep working"

        redis_server.start()
        assert await sign_in_attempt(web) == 422, "counting again, with no restart of the app"
