"""`litestar admin grant|revoke`: the only way to make an administrator [90]."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import AuditEvent, PlatformAdmin
from app.settings import Settings
from tests.support.accounts import Accounts
from tests.test_cli_seed import run_cli


async def test_grant_makes_an_administrator_and_records_it(
    settings: Settings, accounts: Accounts, db: AsyncSession
) -> None:
    user = await accounts.create("gus@example.com")
    result = await run_cli(settings, "admin", "grant", "GUS@example.com", "--impersonate")
    assert result.exit_code == 0, result.output
    row = await db.scalar(select(PlatformAdmin).where(PlatformAdmin.user_id == user.id))
    assert row is not None
    assert row.can_impersonate
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.granted"))
    assert event is not None
    assert (event.target_id, event.details) == (str(user.id), {"via": "cli", "can_impersonate": True})


async def test_grant_without_the_flag_gives_no_impersonation_right(
    settings: Settings, accounts: Accounts, db: AsyncSession
) -> None:
    user = await accounts.create("gus@example.com")
    assert (await run_cli(settings, "admin", "grant", "gus@example.com")).exit_code == 0
    row = await db.scalar(select(PlatformAdmin).where(PlatformAdmin.user_id == user.id))
    assert row is not None
    assert not row.can_impersonate


async def test_revoke_takes_the_rights_away(settings: Settings, accounts: Accounts, db: AsyncSession) -> None:
    user_id = (await accounts.create("gus@example.com")).id
    await run_cli(settings, "admin", "grant", "gus@example.com")
    result = await run_cli(settings, "admin", "revoke", "gus@example.com")
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert await db.scalar(select(PlatformAdmin).where(PlatformAdmin.user_id == user_id)) is None
    assert await db.scalar(select(AuditEvent.id).where(AuditEvent.action == "admin.revoked")) is not None


async def test_an_unknown_address_is_an_error(settings: Settings, db: AsyncSession) -> None:
    result = await run_cli(settings, "admin", "grant", "nobody@example.com")
    assert result.exit_code == 1
    assert "no account" in result.output
    assert (await db.scalars(select(PlatformAdmin))).all() == []
