"""The account journeys leave a complete, intact audit trail, and the CLI can verify it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import verify_audit_chain
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.web import WebClient


async def actions(db: AsyncSession) -> list[str]:
    return list((await db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))).all())


async def test_sign_in_journey_is_audited_in_order(
    accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create()
    await web.get("/login")
    await web.submit("/login", {"email": "ada@example.com", "password": "wrong password here"})
    await accounts.login(web)
    other = web.other_browser()
    await accounts.login(other)
    clock.advance(timedelta(minutes=16))
    await web.get("/sudo?next=/settings/sessions")
    await web.submit("/sudo", {"password": DEFAULT_PASSWORD, "next": "/settings/sessions"})
    await web.get("/settings/sessions")
    await web.submit("/settings/sessions/revoke-others")
    await web.submit("/logout")
    assert await actions(db) == [
        "auth.login.failed",
        "auth.login.succeeded",
        "auth.login.succeeded",
        "auth.sudo.granted",
        "auth.session.revoked_others",
        "auth.logout",
    ]
    report = await verify_audit_chain(db)
    assert report.ok
    assert report.checked == 6


async def test_audit_rows_carry_who_and_from_where_but_no_secrets(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web, headers={"user-agent": "AuditTest/1.0"})
    event = (await db.scalars(select(AuditEvent))).one()
    assert event.action == "auth.login.succeeded"
    assert event.outcome == "success"
    assert event.actor_id == user.id
    assert event.target_id == str(user.id)
    assert event.user_agent == "AuditTest/1.0"
    assert DEFAULT_PASSWORD not in str(event.details)
    assert web.cookies["session"] not in str(event.details)
