"""The periodic purge deletes what has expired and nothing that is still live."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.maintenance import purge_expired_rows
from app.auth.models import AuthSession, LoginThrottle, RememberToken
from app.jobs import task_options
from app.worker import worker_tasks
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_purge_removes_expired_sessions_and_tokens_only(
    accounts: Accounts, web: WebClient, engine: AsyncEngine, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    clock.advance(timedelta(minutes=20))
    await accounts.login(web.other_browser())
    clock.advance(timedelta(minutes=15))  # the first session is idle-expired, the second is live
    deleted = await purge_expired_rows(engine, clock)
    assert deleted["sessions"] == 1
    assert await count(db, AuthSession) == 1
    assert await count(db, RememberToken) == 1
    clock.advance(timedelta(days=31))
    await purge_expired_rows(engine, clock)
    assert await count(db, AuthSession) == 0
    assert await count(db, RememberToken) == 0


async def test_throttles_that_demand_a_reset_are_never_forgotten(
    db: AsyncSession, engine: AsyncEngine, clock: FrozenClock
) -> None:
    long_ago = clock.now() - timedelta(days=90)
    db.add(LoginThrottle(key_hash=b"a" * 32, failures=100, last_failure_at=long_ago, requires_reset=True))
    db.add(LoginThrottle(key_hash=b"b" * 32, failures=3, last_failure_at=long_ago))
    await db.commit()
    deleted = await purge_expired_rows(engine, clock)
    assert deleted["login_throttles"] == 1
    assert (await db.scalars(select(LoginThrottle.failures))).all() == [100]


def test_every_worker_task_declares_timeout_retries_and_ttl(settings: object) -> None:
    for task in worker_tasks():
        options = task_options(task.__name__, settings)  # type: ignore[arg-type]
        assert options.timeout > 0
        assert options.retries >= 1
        assert options.ttl > 0
