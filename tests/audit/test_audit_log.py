"""The audit log in PostgreSQL: chained in the caller's transaction, serialised, tamper-evident."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import RequestFactory
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.audit import AuditError, AuditRecord, chain_hash
from app.auth.core.audit_log import from_request, record_event, verify_audit_chain
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.auth.security import build_security
from app.settings import Settings
from tests.support.database import TEST_SECRET, make_settings

CLOCK = FrozenClock()


def event(action: str = "auth.login.succeeded", **fields: Any) -> AuditRecord:
    CLOCK.advance(timedelta(seconds=1))
    values: dict[str, Any] = {"occurred_at": CLOCK.now(), "action": action, "outcome": "success"}
    return AuditRecord(**(values | fields))


async def write(engine: AsyncEngine, *records: AuditRecord) -> list[AuditEvent]:
    """Record events in one committed transaction of their own."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        return [await record_event(session, record) for record in records]


async def tamper(engine: AsyncEngine, statement: str, **params: Any) -> None:
    """Run `statement` as the superuser with the append-only trigger switched off."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(statement), params)


async def count_events(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        return await session.scalar(select(func.count()).select_from(AuditEvent)) or 0


async def test_events_are_chained_in_the_order_they_are_written(
    db: AsyncSession, engine: AsyncEngine
) -> None:
    first, second, third = await write(engine, event(), event("auth.logout.succeeded"), event())
    assert first.prev_hash is None
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert first.seq < second.seq < third.seq
    report = await verify_audit_chain(db)
    assert report.ok
    assert report.checked == 3


async def test_the_chain_continues_across_transactions(db: AsyncSession, engine: AsyncEngine) -> None:
    [first] = await write(engine, event())
    [second] = await write(engine, event())
    assert second.prev_hash == first.hash
    assert (await verify_audit_chain(db)).ok


async def test_an_event_rolls_back_with_its_transaction(db: AsyncSession, engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        await record_event(session, event())
        await session.rollback()
    assert await count_events(engine) == 0
    await write(engine, event())
    assert (await verify_audit_chain(db)).ok


async def test_concurrent_writers_build_one_unbroken_chain(db: AsyncSession, engine: AsyncEngine) -> None:
    async def one_writer(n: int) -> None:
        await write(engine, event(details={"writer": n}))

    await asyncio.gather(*(one_writer(n) for n in range(20)))
    report = await verify_audit_chain(db)
    assert report.ok, report.reason
    assert report.checked == 20


async def test_values_read_back_hash_as_they_were_written(db: AsyncSession, engine: AsyncEngine) -> None:
    actor, admin = uuid4(), uuid4()
    await write(
        engine,
        event(
            actor_id=str(actor).upper(),
            impersonator_id=str(admin),
            target_type="user",
            target_id=str(actor),
            ip_address="2001:db8::1",
            user_agent="Mozilla/5.0\r\nX-Injected: yes",
            details={
                "big": 1e16,
                "ratio": 2.5,
                "whole": 3.0,
                "name": "Zoë",
                "nested": {"list": [1, None, True]},
            },
        ),
    )
    assert (await verify_audit_chain(db)).ok


async def test_an_edited_row_is_reported(db: AsyncSession, engine: AsyncEngine) -> None:
    events = await write(engine, *(event(details={"n": n}) for n in range(5)))
    edited = events[2].seq
    await tamper(engine, """UPDATE audit_events SET details = '{"n": 99}' WHERE seq = :seq""", seq=edited)
    report = await verify_audit_chain(db)
    assert not report.ok
    assert report.first_broken_seq == edited
    assert report.checked == 2


async def test_a_deleted_row_is_reported(db: AsyncSession, engine: AsyncEngine) -> None:
    events = await write(engine, *(event() for _ in range(5)))
    await tamper(engine, "DELETE FROM audit_events WHERE seq = :seq", seq=events[2].seq)
    report = await verify_audit_chain(db)
    assert report.first_broken_seq == events[3].seq
    assert "removed" in report.reason


async def test_a_row_with_a_forged_hash_is_reported(db: AsyncSession, engine: AsyncEngine) -> None:
    events = await write(engine, *(event() for _ in range(3)))
    forged = event(action="auth.login.failed", outcome="failure")
    await tamper(
        engine,
        "UPDATE audit_events SET action = :action, outcome = 'failure', hash = :hash WHERE seq = :seq",
        action=forged.action,
        hash=chain_hash(events[1].prev_hash, forged),
        seq=events[1].seq,
    )
    assert (await verify_audit_chain(db)).first_broken_seq == events[1].seq


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'failure'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_the_app_connection_cannot_change_the_log(
    db: AsyncSession, engine: AsyncEngine, statement: str
) -> None:
    await write(engine, event())
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    assert await count_events(engine) == 1


@pytest.mark.parametrize("details", [{"password": "hunter2"}, {"x": {"apiToken": 1}}])
async def test_secret_looking_details_are_refused(
    db: AsyncSession, engine: AsyncEngine, details: dict[str, Any]
) -> None:
    with pytest.raises(AuditError, match="secret"):
        await write(engine, event(details=details))
    assert await count_events(engine) == 0


async def test_details_over_8_kb_are_refused(db: AsyncSession, engine: AsyncEngine) -> None:
    await write(engine, event(details={"note": "x" * 8_000}))
    with pytest.raises(AuditError, match="8192"):
        await write(engine, event(details={"note": "x" * 8_200}))
    assert await count_events(engine) == 1


async def test_an_actor_id_that_is_not_a_uuid_is_refused(db: AsyncSession, engine: AsyncEngine) -> None:
    with pytest.raises(AuditError, match="UUID"):
        await write(engine, event(actor_id="alice"))


async def test_writing_outside_read_committed_is_refused(db: AsyncSession, engine: AsyncEngine) -> None:
    # A REPEATABLE READ snapshot could predate the newest event and fork the chain.
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        with pytest.raises(RuntimeError, match="READ COMMITTED"):
            await record_event(session, event())


def test_a_record_from_a_request_carries_the_client_address_user_agent_and_time(settings: Settings) -> None:
    security = build_security(make_settings(settings.database_url, trusted_proxies=["10.0.0.10"]))
    app = Litestar(state=State({"security": security}))
    request = RequestFactory(app=app, server="10.0.0.10").get(
        headers={"x-forwarded-for": "1.2.3.4, 198.51.100.7", "user-agent": "U" * 600}
    )
    actor = uuid4()
    clock = FrozenClock()
    record = from_request(
        request, "auth.login.failed", "failure", actor_id=actor, details={"method": "password"}, clock=clock
    )
    assert record.ip_address == "198.51.100.7"
    assert record.user_agent == "U" * 512
    assert record.occurred_at == clock.now()
    assert record.actor_id == str(actor)
    assert record.details == {"method": "password"}


# --- `litestar audit verify`


def run_verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": TEST_SECRET[:40],
    }
    return subprocess.run(
        [".venv/bin/litestar", "--app", "app.asgi:create_app", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_verify_command_reports_an_intact_log(
    db: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    await write(engine, *(event() for _ in range(3)))
    result = await asyncio.to_thread(run_verify, settings)
    assert result.returncode == 0, result.stderr
    assert "3 events checked, OK" in result.stdout


async def test_verify_command_reports_the_first_broken_row(
    db: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    events = await write(engine, *(event() for _ in range(3)))
    await tamper(engine, "UPDATE audit_events SET ip_address = '6.6.6.6' WHERE seq = :seq", seq=events[1].seq)
    result = await asyncio.to_thread(run_verify, settings)
    assert result.returncode == 1, result.stderr
    assert f"BROKEN at seq {events[1].seq}" in result.stdout
