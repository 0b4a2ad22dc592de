"""The audit explorer: filters, keyset "load more", event detail, streamed exports, chain check."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.admin.tasks import VERIFIED_ACTION, verify_audit_log
from app.auth.core.audit import AuditRecord
from app.auth.core.audit_export import AuditFilter, platform_events, stream_export
from app.auth.core.audit_log import record_event
from app.auth.core.models import AuditEvent
from app.auth.models import User
from tests.admin.conftest import Admin
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts

pytestmark = pytest.mark.heavy(seconds=70)

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def add_event(db: AsyncSession, action: str, *, actor: UUID | None = None, outcome: str = "success",
                    org: UUID | None = None, target: str = "", when: datetime = DAY, user_agent: str = "",
                    **details: Any) -> None:  # fmt: skip
    record = AuditRecord(
        occurred_at=when, action=action, outcome=outcome, actor_id=str(actor) if actor else None,
        org_id=str(org) if org else None, target_type="user" if target else "", target_id=target,
        user_agent=user_agent, details=details,
    )  # fmt: skip
    await record_event(db, record)
    await db.commit()


async def bulk_events(engine: AsyncEngine, count: int) -> None:
    """`count` events straight in SQL (hashes are stand-ins: these tests do not verify the chain)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, action, outcome, target_type, target_id, ip_address,"
                " user_agent, details, hash)"
                " SELECT gen_random_uuid(), CAST(:day AS timestamptz) + make_interval(secs => n), 'bulk.event', 'success', 'user',"
                " 'target-' || n, '192.0.2.1', 'Mozilla/5.0 (X11; Linux x86_64) Test', jsonb_build_object('n', n),"
                " sha256(('bulk' || n)::bytea) FROM generate_series(1, :count) AS n"
            ),
            {"day": DAY, "count": count},
        )


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


async def test_filters_by_actor_target_org_action_outcome_and_days(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    ada = await accounts.create("ada@example.com")
    org = uuid4()
    await add_event(db, "auth.login.failed", actor=ada.id, outcome="failure", target=str(ada.id))
    await add_event(db, "project.created", actor=ada.id, org=org, when=DAY + timedelta(days=2), name="Kept")
    await add_event(db, "auth.login.succeeded", actor=admin.user.id, target=str(admin.user.id))
    cases = {
        f"actor={ada.id}": {"auth.login.failed", "project.created"},
        f"target={ada.id}": {"auth.login.failed"},
        f"org={org}": {"project.created"},
        "action=auth.login": {"auth.login.failed", "auth.login.succeeded"},
        "outcome=failure": {"auth.login.failed"},
        "from=2026-11-21&to=2026-11-23": {"project.created"},
    }
    for params, expected in cases.items():
        page = await admin.web.get(f"/admin/audit?{params}")
        shown = {
            action
            for action in ("auth.login.failed", "project.created", "auth.login.succeeded")
            if f"<code>{action}</code>" in page.text
        }
        assert shown == expected, params


async def test_odd_filter_values_are_ignored(admin: Admin) -> None:
    response = await admin.web.get("/admin/audit?actor=nope&org=%00&outcome=maybe&from=yesterday&before=-1")
    assert response.status_code == 200


async def test_load_more_appends_the_next_rows_by_keyset(
    admin: Admin, app: Litestar, engine: AsyncEngine
) -> None:
    await bulk_events(engine, 120)
    first = await admin.web.get("/admin/audit?action=bulk")
    assert first.text.count("<code>bulk.event</code>") == 50
    assert "Load more" in first.text
    more_link = first.text.split('hx-get="/admin/audit', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "before=" in more_link
    more = await admin.web.get(f"/admin/audit{more_link}", htmx=True)
    assert more.text.lstrip().startswith("<tr")
    assert more.text.count("<code>bulk.event</code>") == 50


async def test_a_deep_page_of_100000_events_costs_what_the_first_does(
    admin: Admin, app: Litestar, engine: AsyncEngine
) -> None:
    await bulk_events(engine, 100_000)
    status, first = await cost_of(app, admin.web, "/admin/audit")
    assert status == 200
    status, deep = await cost_of(app, admin.web, "/admin/audit?before=50")
    assert status == 200
    # Session resume, the admin guard, the events with their actors, the newest chain verdict.
    assert len(first.statements) == len(deep.statements) == 4, deep.statements
    assert all("OFFSET" not in statement.upper() for statement in deep.statements)


async def test_an_event_has_its_own_page(admin: Admin, accounts: Accounts, db: AsyncSession) -> None:
    await add_event(db, "auth.login.failed", outcome="failure", reason="<script>x</script>")
    seq = await db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "auth.login.failed"))
    page = await admin.web.get(f"/admin/audit/{seq}")
    assert page.status_code == 200
    assert "<script>x</script>" not in page.text
    assert (await admin.web.get("/admin/audit/999999999", follow_redirects=False)).status_code == 404


async def test_the_csv_export_neutralises_every_formula_start(admin: Admin, db: AsyncSession) -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        await add_event(
            db, "test.formula", target=f"{start}HYPERLINK(1)", user_agent=f"{start}cmd|' /C calc'!A0"
        )
    await admin.web.get("/admin/audit")
    export = await admin.web.submit("/admin/audit/export", {"format": "csv", "action": "test.formula"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith('attachment; filename="audit-')
    rows = csv_rows(export.text)
    assert len(rows) == 6
    for row in rows:
        for field in ("user_agent", "target_id"):
            assert row[field].startswith("'"), row[field]


async def test_json_and_ndjson_exports_hold_the_filtered_set(admin: Admin, db: AsyncSession) -> None:
    await add_event(db, "keep.me", name="one")
    await add_event(db, "drop.me")
    await admin.web.get("/admin/audit")
    as_json = json.loads(
        (await admin.web.submit("/admin/audit/export", {"format": "json", "action": "keep"})).text
    )
    lines = (
        await admin.web.submit("/admin/audit/export", {"format": "ndjson", "action": "keep"})
    ).text.splitlines()
    assert as_json == [json.loads(line) for line in lines]
    assert [event["action"] for event in as_json] == ["keep.me"]


async def test_an_export_is_recorded_and_needs_sudo(admin: Admin, db: AsyncSession, clock: Any) -> None:
    await admin.web.get("/admin/audit")
    await admin.web.submit("/admin/audit/export", {"format": "csv", "outcome": "failure"})
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.audit.exported"))
    assert event is not None
    assert (event.actor_id, event.details["filters"]) == (admin.user.id, {"outcome": "failure"})
    clock.advance(timedelta(minutes=16))
    late = await admin.web.submit("/admin/audit/export", {"format": "csv"})
    assert late.headers["location"].startswith("/sudo")


async def test_a_100000_row_export_streams_in_bounded_memory(app: Litestar, engine: AsyncEngine) -> None:
    await bulk_events(engine, 100_000)
    rows = written = 0
    tracemalloc.start()
    try:
        async for chunk in stream_export(engine, platform_events(User, AuditFilter(action="bulk")), "csv"):
            written += len(chunk)
            rows += chunk.count(b"\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 100_001  # the header and every event
    assert written > 10_000_000
    print(f"export: {written} bytes, peak traced memory {peak} bytes")
    assert peak < written / 3, peak  # batches of 500 rows, never the whole export
    assert peak < 8_000_000, peak


async def test_the_chain_check_runs_as_a_job_and_its_verdict_is_shown(
    admin: Admin, db: AsyncSession, app: Litestar, engine: AsyncEngine
) -> None:
    await admin.web.get("/admin/audit")
    response = await admin.web.submit("/admin/audit/verify")
    assert response.status_code == 303
    outbox = await db.scalar(text("SELECT count(*) FROM job_outbox WHERE task = 'verify_audit_log'"))
    assert outbox == 1
    verdict = await verify_audit_log({"engine": engine})
    assert verdict["first_broken_seq"] is None
    page = await admin.web.get("/admin/audit")
    assert "Intact" in page.text
    assert (
        await db.scalar(select(AuditEvent.outcome).where(AuditEvent.action == VERIFIED_ACTION)) == "success"
    )


async def test_a_broken_chain_is_reported_as_broken(admin: Admin, app: Litestar, engine: AsyncEngine) -> None:
    await bulk_events(engine, 3)  # stand-in hashes: not a chain
    verdict = await verify_audit_log({"engine": engine})
    assert verdict["first_broken_seq"] is not None
    page = await admin.web.get("/admin/audit")
    assert "Broken" in page.text


async def test_actor_and_target_may_be_typed_as_an_email_address(
    admin: Admin, accounts: Accounts, db: AsyncSession
) -> None:
    ada = await accounts.create("ada@example.com")
    await add_event(db, "auth.login.failed", actor=ada.id, outcome="failure", target=str(ada.id))
    await add_event(db, "auth.login.succeeded", actor=admin.user.id, target=str(admin.user.id))
    by_actor = await admin.web.get("/admin/audit?actor=ADA@example.com")
    assert "<code>auth.login.failed</code>" in by_actor.text
    assert "<code>auth.login.succeeded</code>" not in by_actor.text
    by_target = await admin.web.get("/admin/audit?target=ada@example.com")
    assert "<code>auth.login.failed</code>" in by_target.text
    assert "<code>auth.login.succeeded</code>" not in by_target.text
    nobody = await admin.web.get("/admin/audit?actor=nobody@example.com")
    assert "No events match." in nobody.text
