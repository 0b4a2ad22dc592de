"""`litestar seed` (demo data) and `litestar users create`, run through the real CLI on the test database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from litestar.cli._utils import LitestarEnv, LitestarGroup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.models import AuditEvent, Membership, Organization, OrgInvitation, OrgRole
from app.auth.models import User
from app.cli import GatehouseCLI
from app.seed import DEMO_PASSWORD
from app.settings import Settings
from tests.support.accounts import Accounts
from tests.support.database import TEST_SECRET, make_settings
from tests.support.web import WebClient

# isort: split
# --- feature: orgs
from app.projects.models import Project

# --- end feature: orgs

STRONG = "a long and unusual passphrase"


async def run_cli(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """Run `litestar <args>` against an app of its own (as the command line would), off the test's loop."""

    def invoke() -> Result:
        cli = LitestarGroup()
        GatehouseCLI().on_cli_init(cli)
        env = LitestarEnv(app_path="app.asgi:create_app", app=create_app(settings), cwd=Path.cwd())
        return CliRunner().invoke(cli, list(args), obj=env, input=stdin)

    return await asyncio.to_thread(invoke)


async def snapshot(db: AsyncSession) -> dict[str, set[object]]:
    """The ids of every row the seed writes, per table."""
    db.expire_all()
    tables = {
        "users": User.id,
        "organizations": Organization.id,
        "memberships": Membership.id,
        "roles": OrgRole.id,
        "invitations": OrgInvitation.id,
        # --- feature: orgs
        "projects": Project.id,
        "audit": AuditEvent.id,  # the seed's audit events are the projects'
        # --- end feature: orgs
    }
    return {name: set((await db.scalars(select(column))).all()) for name, column in tables.items()}


@pytest.mark.needs_features("orgs")
async def test_seed_makes_two_organizations_with_every_role_invitations_and_projects(
    settings: Settings, db: AsyncSession
) -> None:
    result = await run_cli(settings, "seed")
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output

    users = (await db.scalars(select(User))).all()
    assert len(users) >= 5
    assert all(user.confirmed_at is not None and user.is_active for user in users)
    orgs = {org.slug: org for org in (await db.scalars(select(Organization))).all()}
    assert set(orgs) == {"acme", "globex"}
    for org in orgs.values():
        role_keys = set(
            (
                await db.scalars(
                    select(OrgRole.key)
                    .join(Membership, Membership.role_id == OrgRole.id)
                    .where(Membership.org_id == org.id)
                )
            ).all()
        )
        assert {"owner", "admin", "member"} <= role_keys, org.slug
        pending = await db.scalars(
            select(OrgInvitation).where(OrgInvitation.org_id == org.id, OrgInvitation.accepted_at.is_(None))
        )
        assert pending.all(), org.slug
        # --- feature: orgs
        assert (await db.scalars(select(Project).where(Project.org_id == org.id))).all(), org.slug
    archived = await db.scalars(select(Project).where(Project.archived_at.is_not(None)))
    assert archived.all()
    # --- end feature: orgs


async def test_seeding_twice_leaves_exactly_the_same_rows(settings: Settings, db: AsyncSession) -> None:
    assert (await run_cli(settings, "seed")).exit_code == 0
    first = await snapshot(db)
    again = await run_cli(settings, "seed")
    assert again.exit_code == 0, again.output
    assert "nothing added" in again.output
    assert await snapshot(db) == first
    assert all(first.values())


async def test_seed_refuses_to_run_in_production(database_url: str, db: AsyncSession) -> None:
    production = make_settings(
        database_url, app_env="prod", base_url="https://app.example.com", secret_key=TEST_SECRET
    )
    result = await run_cli(production, "seed")
    assert result.exit_code == 1
    assert "refusing to seed" in result.output
    assert await db.scalar(select(User.id)) is None


@pytest.mark.needs_features("orgs")
async def test_a_seeded_user_signs_in_with_the_demo_password(
    settings: Settings, accounts: Accounts, web: WebClient
) -> None:
    assert (await run_cli(settings, "seed")).exit_code == 0
    await accounts.login(web, "olive@example.com", DEMO_PASSWORD)
    assert (await web.get("/o/acme/projects")).status_code == 200
    assert (await web.get("/o/globex/projects")).status_code == 200


async def test_users_create_reads_the_password_from_stdin(
    settings: Settings, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    result = await run_cli(
        settings, "users", "create", "New.Person@Example.com", "--confirmed", stdin=STRONG + "\n"
    )
    assert result.exit_code == 0, result.output
    user = await db.scalar(select(User).where(User.email_canonical == "new.person@example.com"))
    assert user is not None
    assert user.confirmed_at is not None
    assert user.password_hash is not None
    assert STRONG not in user.password_hash
    await accounts.login(web, "new.person@example.com", STRONG)


async def test_users_create_leaves_the_address_unconfirmed_unless_asked(
    settings: Settings, db: AsyncSession
) -> None:
    result = await run_cli(settings, "users", "create", "later@example.com", stdin=STRONG + "\n")
    assert result.exit_code == 0, result.output
    user = await db.scalar(select(User).where(User.email_canonical == "later@example.com"))
    assert user is not None
    assert user.confirmed_at is None


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [("weak@example.com", "short", "characters"), ("not-an-address", STRONG, "")],
)
async def test_users_create_refuses_what_registration_would(
    settings: Settings, db: AsyncSession, email: str, password: str, reason: str
) -> None:
    result = await run_cli(settings, "users", "create", email, stdin=password + "\n")
    assert result.exit_code == 1
    assert reason in result.output
    assert await db.scalar(select(User.id)) is None


async def test_users_create_refuses_an_address_that_has_an_account(
    settings: Settings, db: AsyncSession
) -> None:
    assert (
        await run_cli(settings, "users", "create", "taken@example.com", stdin=STRONG + "\n")
    ).exit_code == 0
    again = await run_cli(settings, "users", "create", "Taken@example.com", stdin=STRONG + "\n")
    assert again.exit_code == 1
    assert "exists" in again.output
