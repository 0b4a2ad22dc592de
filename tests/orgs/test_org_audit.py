"""The organization's audit log page and its exports: only that org's events, filtered, paged, formula-safe."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import record_event
from app.auth.core.models import AuditEvent, Membership
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, create_org
from app.auth.models import User
from app.orgs.audit import PAGE_SIZE
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.web import WebClient

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """Acme (owner, admin, member) and Globex (its owner), each with a few events."""

    acme_id: UUID
    globex_id: UUID
    owner: User
    admin: User
    member: User
    stranger: User


async def add_event(
    db: AsyncSession,
    action: str,
    actor: User | None,
    org_id: UUID | None,
    when: datetime = DAY,
    user_agent: str = "",
    **details: Any,
) -> None:
    record = AuditRecord(
        occurred_at=when,
        action=action,
        outcome="success",
        actor_id=str(actor.id) if actor else None,
        org_id=str(org_id) if org_id else None,
        target_type="project" if action.startswith("project") else "",
        target_id="p1" if action.startswith("project") else "",
        user_agent=user_agent,
        details=details,
    )
    await record_event(db, record)
    await db.commit()


@pytest.fixture
async def world(accounts: Accounts, db: AsyncSession) -> World:
    owner = await accounts.create("olive@example.com")
    admin = await accounts.create("adam@example.com")
    member = await accounts.create("mia@example.com")
    stranger = await accounts.create("gus@example.com")
    acme = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    db.add_all(
        [
            Membership(org_id=acme.id, user_id=admin.id, role_id=ADMIN_ROLE_ID),
            Membership(org_id=acme.id, user_id=member.id, role_id=MEMBER_ROLE_ID),
        ]
    )
    globex = await create_org(db, owner_id=stranger.id, name="Globex", slug="globex")
    await db.commit()
    await add_event(db, "project.created", member, acme.id, DAY, name="Rocket skates")
    await add_event(db, "project.archived", admin, acme.id, DAY + timedelta(days=2), name="Rocket skates")
    await add_event(db, "member.invited", owner, acme.id, DAY + timedelta(days=3))
    await add_event(db, "project.created", stranger, globex.id, DAY, name="Globex secret plan")
    await add_event(db, "account.profile.updated", owner, None, DAY)  # not an organization's event
    return World(acme.id, globex.id, owner, admin, member, stranger)


async def signed_in(accounts: Accounts, web: WebClient, user: User) -> WebClient:
    await accounts.login(web, user.email)
    return web


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_log_lists_the_organizations_events_newest_first(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.admin)
    page = await web.get("/o/acme/audit")
    assert page.status_code == 200
    text = page.text
    assert text.index("member.invited") < text.index("project.archived") < text.index("project.created")
    assert "mia@example.com" in text
    assert "Rocket skates" in text
    assert re.search(r'aria-current="page">(<span class="icon[^>]*>.*?</span>)?Audit log<', text, re.S)
    # UTC on the page (what a browser without JavaScript shows); app.js rewrites it in the local zone.
    assert (
        '<time datetime="2026-11-23T12:00:00+00:00" data-local-time="datetime">23 Nov 2026, 12:00:00 UTC</time>'
        in text
    )


async def test_another_organizations_events_and_personal_events_never_appear(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.owner)
    page = await web.get("/o/acme/audit")
    assert "Globex secret plan" not in page.text
    assert "gus@example.com" not in page.text
    assert "account.profile.updated" not in page.text
    for fmt in ("csv", "json", "ndjson"):
        export = await web.submit("/o/acme/audit/export", {"format": fmt})
        assert export.status_code == 200, fmt
        assert "Globex secret plan" not in export.text, fmt
        assert "account.profile.updated" not in export.text, fmt
        assert "Rocket skates" in export.text, fmt
    # Filtering for Globex's owner through Acme's address finds nothing, not Globex's events.
    filtered = await web.submit(
        "/o/acme/audit/export", {"format": "ndjson", "member": str(world.stranger.id)}
    )
    assert filtered.text == ""


async def test_a_role_without_audit_read_is_refused_and_other_orgs_are_not_found(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.member)
    assert (await web.get("/o/acme/audit")).status_code == 403
    assert (await web.get("/o/acme/audit", htmx=True)).status_code == 403
    await web.get("/o/acme/projects")
    assert (await web.submit("/o/acme/audit/export", {"format": "csv"})).status_code == 403
    for response in (
        await web.get("/o/globex/audit"),
        await web.submit("/o/globex/audit/export", {"format": "ndjson"}),
    ):
        assert response.status_code == 404
        assert "Globex secret plan" not in response.text


async def test_filters_by_member_action_and_days(world: World, accounts: Accounts, web: WebClient) -> None:
    await signed_in(accounts, web, world.owner)

    by_member = await web.get(f"/o/acme/audit?member={world.admin.id}")
    assert "project.archived" in by_member.text
    assert "project.created" not in by_member.text
    assert f'<option value="{world.admin.id}" selected>' in by_member.text

    by_action = await web.get("/o/acme/audit?action=project")
    assert "project.created" in by_action.text
    assert "project.archived" in by_action.text
    assert "member.invited" not in by_action.text
    assert "project.created" not in (await web.get("/o/acme/audit?action=proj")).text  # whole parts only

    # "to" includes the whole day.
    by_days = await web.get("/o/acme/audit?from=2026-11-21&to=2026-11-22")
    assert "project.archived" in by_days.text
    assert "project.created" not in by_days.text
    assert "member.invited" not in by_days.text

    nothing = await web.get("/o/acme/audit?action=billing")
    assert "No events match these filters." in nothing.text


async def test_odd_filter_values_are_ignored_not_errors(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.owner)
    response = await web.get("/o/acme/audit?member=not-a-uuid&from=yesterday&to=2026-13-45&before=-1")
    assert response.status_code == 200
    assert "member.invited" in response.text


async def test_pages_go_back_in_time_by_keyset(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    for n in range(PAGE_SIZE + 5):
        await add_event(
            db, "project.updated", world.member, world.acme_id, DAY + timedelta(minutes=n), name=f"P{n}"
        )
    await signed_in(accounts, web, world.owner)
    first = await web.get("/o/acme/audit?action=project.updated")
    assert first.text.count("<tr>") == PAGE_SIZE + 1  # the header row and the events
    assert f">P{PAGE_SIZE + 4}<" in first.text
    assert ">P4<" not in first.text
    older = first.text.split('rel="next" href="/o/acme/audit', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "before=" in older
    assert "action=project.updated" in older

    second = await web.get(f"/o/acme/audit{older}", htmx=True)
    assert second.text.lstrip().startswith('<section id="audit-events"')
    assert ">P4<" in second.text
    assert ">P0<" in second.text
    assert f">P{PAGE_SIZE + 4}<" not in second.text
    assert 'rel="next"' not in second.text
    assert ">Newest<" in second.text


async def test_the_csv_export_is_an_attachment_with_formula_safe_cells(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await add_event(
        db,
        "project.created",
        world.member,
        world.acme_id,
        DAY,
        user_agent="=cmd|' /C calc'!A0",
        name="@SUM(1+1)",
    )
    await signed_in(accounts, web, world.owner)
    await web.get("/o/acme/audit")
    export = await web.submit("/o/acme/audit/export", {"format": "csv", "action": "project"})
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith('attachment; filename="acme-audit-')
    assert export.headers["cache-control"] == "no-store"
    rows = csv_rows(export.text)
    assert {row["action"] for row in rows} == {"project.created", "project.archived"}
    planted = next(row for row in rows if row["user_agent"])
    assert planted["user_agent"] == "'=cmd|' /C calc'!A0"
    assert json.loads(planted["details"]) == {"name": "@SUM(1+1)"}  # a JSON text starts with "{": inert
    assert planted["actor_email"] == "mia@example.com"


async def test_json_and_ndjson_exports_hold_the_same_filtered_events(
    world: World, accounts: Accounts, web: WebClient
) -> None:
    await signed_in(accounts, web, world.owner)
    await web.get("/o/acme/audit")
    as_json = json.loads(
        (await web.submit("/o/acme/audit/export", {"format": "json", "action": "project"})).text
    )
    lines = (
        await web.submit("/o/acme/audit/export", {"format": "ndjson", "action": "project"})
    ).text.splitlines()
    as_ndjson = [json.loads(line) for line in lines]
    assert as_json == as_ndjson
    assert [event["action"] for event in as_json] == ["project.archived", "project.created"]
    assert as_json[0]["occurred_at"] == "2026-11-22T12:00:00.000000+00:00"
    assert as_json[0]["actor_email"] == "adam@example.com"
    assert (
        json.loads((await web.submit("/o/acme/audit/export", {"format": "json", "action": "nothing"})).text)
        == []
    )


async def test_taking_an_export_is_itself_recorded(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await signed_in(accounts, web, world.owner)
    page = await web.get("/o/acme/audit?action=project")
    assert (
        '<input type="hidden" name="action" value="project">' in page.text
    )  # the export takes the filters shown
    export = await web.submit("/o/acme/audit/export", {"format": "ndjson", "action": "project"})
    assert export.status_code == 200
    [event] = (await db.scalars(select(AuditEvent).where(AuditEvent.action == "org.audit.exported"))).all()
    assert (event.org_id, event.actor_id) == (world.acme_id, world.owner.id)
    assert event.details == {"format": "ndjson", "filters": {"action": "project"}}
    everything = await web.submit("/o/acme/audit/export", {"format": "ndjson"})
    assert "org.audit.exported" in everything.text


async def test_an_export_needs_a_known_format(world: World, accounts: Accounts, web: WebClient) -> None:
    await signed_in(accounts, web, world.owner)
    await web.get("/o/acme/audit")
    assert (await web.submit("/o/acme/audit/export", {"format": "xlsx"})).status_code == 400


async def test_the_page_costs_the_same_statements_however_many_events(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    await signed_in(accounts, web, world.owner)
    status, few = await cost_of(app, web, "/o/acme/audit")
    assert status == 200
    for n in range(30):
        await add_event(
            db, "project.updated", world.member, world.acme_id, DAY + timedelta(minutes=n), name=f"P{n}"
        )
    status, many = await cost_of(app, web, "/o/acme/audit")
    assert status == 200
    # Session resume, the organization and membership, the members for the filter, the events with their actors.
    assert len(many.statements) == len(few.statements) == 4, many.statements


async def test_an_impersonated_event_names_the_admin_who_acted(
    world: World, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    record = AuditRecord(
        occurred_at=DAY + timedelta(days=5),
        action="project.deleted",
        outcome="success",
        actor_id=str(world.member.id),
        impersonator_id=str(world.stranger.id),
        org_id=str(world.acme_id),
        details={"name": "Impersonated"},
    )
    await record_event(db, record)
    await db.commit()
    await signed_in(accounts, web, world.owner)
    page = await web.get("/o/acme/audit?action=project.deleted")
    assert "by <bdi>gus@example.com</bdi>, acting as them" in page.text
    export = await web.submit("/o/acme/audit/export", {"format": "json", "action": "project.deleted"})
    [event] = json.loads(export.text)
    assert (event["actor_email"], event["impersonator_email"]) == ("mia@example.com", "gus@example.com")
