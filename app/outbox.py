"""The job outbox: jobs deferred in a request are rows in the request's own transaction.

A job is written to `job_outbox` in the same transaction as the change that caused it (a reset
link and its mail commit together or not at all), with its secret arguments already sealed. Right
after the commit the relay puts the committed rows on the SAQ queue and marks them sent. Whatever a
relay could not move (the queue was down, the process died between commit and relay) waits in the
table: a periodic sweep, and every worker at startup, relays it later.

Each row becomes a job with the key `outbox:<row id>`, so a row relayed twice (the sweep racing a
slow relay) is still one job and one mail. Sent rows are pruned after `SENT_RETENTION`; rows
unsent for longer than `STALE_AFTER` are logged as a warning and reported by `/healthz`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, String, Text, delete, event, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from app.jobs import Jobs

log = structlog.get_logger(__name__)

RELAY_GRACE = timedelta(seconds=5)
"""The sweep leaves rows younger than this to the request that is relaying them right now."""
STALE_AFTER = timedelta(minutes=5)
"""A row unsent for this long is a problem worth a warning (and `/healthz` says `degraded`)."""
SENT_RETENTION = timedelta(days=7)
"""Sent rows are kept this long (to answer "did that mail go out?"), then pruned."""
SWEEP_BATCH = 500


class OutboxJob(Base):
    """A job waiting to be (or already) handed to the queue."""

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_unsent", "created_at", postgresql_where="sent_at IS NULL"),)

    task: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Plain arguments (nothing secret)."""
    sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """Secret arguments, sealed with the job cipher (AES-256-GCM) before they were stored."""
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    @property
    def job_key(self) -> str:
        """The queue key: one job per row, however often the row is relayed."""
        return f"outbox:{self.id}"


def added_rows(session: AsyncSession) -> list[OutboxJob]:
    """The rows this session's open transaction added (relayed once it commits)."""
    rows: list[OutboxJob] = session.info.setdefault("outbox_rows", [])
    return rows


@event.listens_for(Session, "after_commit")
def _rows_committed(session: Session) -> None:
    """The open transaction's rows are durable now: they will be relayed when the request ends.

    A flow may commit part of its work early (a failure count that must survive the request's own
    failure, and the mail that goes with it); those rows are relayed even when the request then
    answers with an error and its remaining work is rolled back.
    """
    added = session.info.pop("outbox_rows", None)
    if added:
        for row in added:
            # Detached with its values loaded: a later rollback of the session cannot expire it.
            if row in session:
                session.expunge(row)
        session.info.setdefault("outbox_committed", []).extend(added)


@event.listens_for(Session, "after_rollback")
def _rows_rolled_back(session: Session) -> None:
    """Rows of a rolled-back transaction were never stored: nothing to relay."""
    session.info.pop("outbox_rows", None)


def committed_rows(session: AsyncSession, *, autocommitted: bool = False) -> list[OutboxJob]:
    """Rows whose transaction committed (with `autocommitted`, also those of an autocommit session)."""
    rows: list[OutboxJob] = session.info.pop("outbox_committed", [])
    if autocommitted:
        rows += session.info.pop("outbox_rows", [])
    return rows


async def relay_after_commit(session: AsyncSession, jobs: Jobs, *, autocommitted: bool = False) -> None:
    """Move the rows of committed transactions to the queue; leave failures to the sweep."""
    rows = committed_rows(session, autocommitted=autocommitted)
    sent = [row.id for row in rows if await _enqueue(jobs, row)]
    if sent:
        await _mark_sent(session, sent)
        await session.commit()


async def sweep(engine: AsyncEngine, jobs: Jobs, *, now: datetime | None = None) -> int:
    """Relay rows an earlier relay left behind, prune old sent rows; the number relayed."""
    now = now or datetime.now(UTC)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        rows = (
            await session.scalars(
                select(OutboxJob)
                .where(OutboxJob.sent_at.is_(None), OutboxJob.created_at <= now - RELAY_GRACE)
                .order_by(OutboxJob.created_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
        sent = [row.id for row in rows if await _enqueue(jobs, row)]
        if sent:
            await _mark_sent(session, sent)
            log.info("outbox.swept", relayed=len(sent))
        await session.execute(
            delete(OutboxJob).where(OutboxJob.sent_at.is_not(None), OutboxJob.sent_at < now - SENT_RETENTION)
        )
        await session.commit()
    stale = await stale_count(engine, now=now)
    if stale:
        log.warning("outbox.stale", unsent=stale, older_than_s=int(STALE_AFTER.total_seconds()))
    return len(sent)


async def stale_count(engine: AsyncEngine, *, now: datetime | None = None) -> int:
    """How many rows have waited longer than `STALE_AFTER` to be relayed."""
    now = now or datetime.now(UTC)
    query = select(func.count()).where(OutboxJob.sent_at.is_(None), OutboxJob.created_at < now - STALE_AFTER)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _enqueue(jobs: Jobs, row: OutboxJob) -> bool:
    try:
        await jobs.enqueue_row(row)
    except Exception:  # the row is safe in the table; the sweep tries again
        log.warning("outbox.relay_failed", task=row.task, row_id=str(row.id), exc_info=True)
        return False
    return True


async def _mark_sent(session: AsyncSession, ids: list[UUID]) -> None:
    await session.execute(update(OutboxJob).where(OutboxJob.id.in_(ids)).values(sent_at=datetime.now(UTC)))
