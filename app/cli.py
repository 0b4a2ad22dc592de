"""Gatehouse's commands on the `litestar` CLI (`litestar --app app.asgi:create_app <command>`)."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click
from litestar.cli._utils import LitestarGroup
from litestar.plugins import CLIPluginProtocol

if TYPE_CHECKING:
    from litestar import Litestar

    from app.auth.core.audit import ChainReport
    from app.auth.models import User
    from app.seed import SeedReport


class GatehouseCLI(CLIPluginProtocol):
    """Adds `worker`, `seed`, `users create`, `admin grant|revoke`, `audit verify`, `db-role grant` and
    `core status|pending|apply`."""

    def on_cli_init(self, cli: click.Group) -> None:
        """Register the commands."""

        @cli.command(name="worker", help="Run a background job worker until interrupted.")
        def worker(app: Litestar) -> None:
            from app.worker import run_worker

            asyncio.run(run_worker(app.state.settings))

        @cli.command(name="seed")
        def seed(app: Litestar) -> None:
            """Add demo users, organizations, invitations and projects (refused in production)."""
            from app.seed import SeedRefusedError, describe

            try:
                report = asyncio.run(_seed(app))
            except SeedRefusedError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo("\n".join(describe(report)))

        @cli.group(name="users", cls=LitestarGroup)
        def users() -> None:
            """Accounts."""

        @users.command(name="create")
        @click.argument("email")
        @click.option(
            "--confirmed", is_flag=True, help="Mark the address confirmed (the account can sign in)."
        )
        @click.option("--name", default="", help="Display name.")
        def create_user(app: Litestar, email: str, confirmed: bool, name: str) -> None:
            """Create an account for EMAIL; the password is asked for, or read from stdin when piped."""
            from app.seed import UserProblemError

            password = _read_password()
            try:
                user = asyncio.run(_create_user(app, email, password, confirmed=confirmed, name=name))
            except UserProblemError as exc:
                raise click.ClickException(str(exc)) from exc
            state = "confirmed" if confirmed else "not confirmed: it cannot sign in until the address is"
            click.echo(f"created {user.email} ({user.id}), {state}")

        @cli.group(name="admin", cls=LitestarGroup)
        def admin() -> None:
            """Platform administrators (the only way to make one: there is no default account)."""

        @admin.command(name="grant")
        @click.argument("email")
        @click.option("--impersonate", is_flag=True, help="Also allow signing in as other users.")
        def grant_admin(app: Litestar, email: str, impersonate: bool) -> None:
            """Make the account with EMAIL a platform administrator."""
            try:
                asyncio.run(_set_admin(app, email, grant=True, can_impersonate=impersonate))
            except LookupError as exc:
                raise click.ClickException(str(exc)) from exc
            extra = ", may impersonate" if impersonate else ""
            click.echo(f"{email} is a platform administrator{extra}")

        @admin.command(name="revoke")
        @click.argument("email")
        def revoke_admin(app: Litestar, email: str) -> None:
            """Take platform administrator rights away from the account with EMAIL."""
            try:
                asyncio.run(_set_admin(app, email, grant=False, can_impersonate=False))
            except LookupError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"{email} is no longer a platform administrator")

        @cli.group(name="audit", cls=LitestarGroup)
        def audit() -> None:
            """The audit log."""

        @audit.command(name="verify")
        def verify(app: Litestar) -> None:
            """Check the audit log's hash chain; exit status 1 when it is broken."""
            report = asyncio.run(_verify_audit_log(app.state.settings.sqlalchemy_url))
            if report.ok:
                click.echo(f"audit log: {report.checked} events checked, OK")
                return
            click.echo(
                f"audit log BROKEN at seq {report.first_broken_seq}: {report.reason} "
                f"({report.checked} events intact before it)"
            )
            raise click.exceptions.Exit(1)

        @cli.group(name="db-role", cls=LitestarGroup)
        def db_role() -> None:
            """The least-privilege database role the app connects as in production."""

        @db_role.command(name="grant")
        @click.argument("role")
        @click.option("--print-only", is_flag=True, help="Print the SQL instead of running it.")
        def grant(app: Litestar, role: str, print_only: bool) -> None:
            """Grant ROLE what the app needs (run as the tables' owner, after migrating)."""
            from app.db_roles import app_role_statements, grant_app_role

            try:
                statements = (
                    app_role_statements(role)
                    if print_only
                    else asyncio.run(grant_app_role(app.state.settings.sqlalchemy_url, role))
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(";\n".join(statements) + ";")

        @cli.group(name="core", cls=LitestarGroup)
        def core() -> None:
            """The vendored security core (app/auth/core)."""

        @core.command(name="status")
        def status() -> None:
            """Compare the core's files with its manifest; exit status 1 on drift."""
            from app.auth.core.manifest import CORE_ROOT, status_lines

            lines, clean = status_lines(CORE_ROOT)
            click.echo("\n".join(lines))
            if not clean:
                raise click.exceptions.Exit(1)

        @core.command(name="pending")
        @click.option("--security", is_flag=True, help="Only releases with a Security section.")
        @click.option("--remote", default="upstream", show_default=True, help="The upstream remote.")
        @click.option(
            "--branch", default=None, help="The upstream branch (default: the remote's HEAD, or main)."
        )
        def pending(security: bool, remote: str, branch: str | None) -> None:
            """List upstream core releases not taken yet, oldest first; exit status 1 when there are some."""
            from app.auth.core.releases import REPO_ROOT, run_pending

            code = run_pending(REPO_ROOT, remote=remote, branch=branch, security_only=security)
            raise click.exceptions.Exit(code)

        @core.command(name="apply")
        @click.argument("version", required=False)
        @click.option("--all", "apply_all", is_flag=True, help="Apply every pending release.")
        @click.option("--remote", default="upstream", show_default=True, help="The upstream remote.")
        @click.option(
            "--branch", default=None, help="The upstream branch (default: the remote's HEAD, or main)."
        )
        @click.option("--no-tests", is_flag=True, help="Skip the core's tests afterwards.")
        def apply(
            version: str | None, apply_all: bool, remote: str, branch: str | None, no_tests: bool
        ) -> None:
            """Cherry-pick pending core releases up to VERSION (or --all), then check the manifest and tests."""
            from app.auth.core.releases import REPO_ROOT, run_apply

            if bool(version) == apply_all:
                raise click.UsageError("give a VERSION or --all (not both)")
            code = run_apply(
                REPO_ROOT,
                version,
                remote=remote,
                branch=branch,
                run_tests=not no_tests,
                command="litestar core",
            )
            raise click.exceptions.Exit(code)


def _read_password() -> str:
    """A hidden prompt (typed twice) at a terminal; otherwise the first line of stdin."""
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return stdin.readline().rstrip("\r\n")


async def _seed(app: Litestar) -> SeedReport:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.seed import seed_demo

    settings = app.state.settings
    engine = create_async_engine(settings.sqlalchemy_url, pool_size=1)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await seed_demo(session, app.state.security, settings)
    finally:
        await engine.dispose()


async def _create_user(app: Litestar, email: str, password: str, *, confirmed: bool, name: str) -> User:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.seed import create_user

    engine = create_async_engine(app.state.settings.sqlalchemy_url, pool_size=1)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await create_user(
                session, app.state.security, email, password, confirmed=confirmed, name=name
            )
    finally:
        await engine.dispose()


async def _set_admin(app: Litestar, email: str, *, grant: bool, can_impersonate: bool) -> None:
    """Grant or revoke, audited (no actor: the command line, not a person in the app, did it)."""
    from datetime import UTC, datetime

    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.auth.core.audit import AuditRecord
    from app.auth.core.audit_log import record_event
    from app.auth.core.identity import InvalidEmail, canonical_email
    from app.auth.core.platform_admin import grant_admin, revoke_admin
    from app.auth.models import User

    try:
        canonical = canonical_email(email)
    except InvalidEmail as exc:
        raise LookupError(f"{email!r} is not an email address") from exc
    engine = create_async_engine(app.state.settings.sqlalchemy_url, pool_size=1)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            user = await session.scalar(select(User).where(User.email_canonical == canonical))
            if user is None:
                raise LookupError(f"no account with the address {email}")
            if grant:
                await grant_admin(session, user.id, can_impersonate=can_impersonate)
            else:
                await revoke_admin(session, user.id)
            action = "admin.granted" if grant else "admin.revoked"
            details = {"via": "cli", "can_impersonate": can_impersonate} if grant else {"via": "cli"}
            record = AuditRecord(
                occurred_at=datetime.now(UTC),
                action=action,
                outcome="success",
                target_type="user",
                target_id=str(user.id),
                details=details,
            )
            await record_event(session, record)
            await session.commit()
    finally:
        await engine.dispose()


async def _verify_audit_log(database_url: str) -> ChainReport:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.auth.core.audit_log import verify_audit_chain

    engine = create_async_engine(database_url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            return await verify_audit_chain(session)
    finally:
        await engine.dispose()
