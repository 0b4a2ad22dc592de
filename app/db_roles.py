"""A least-privilege database role for the running app (`litestar db-role grant NAME`).

In production, migrations run as the role that owns the tables, and the web and worker processes
connect as a second role that owns nothing. That role may read and write the app's tables, and it
may create tables in the schema, because SAQ creates and upgrades its own queue tables at startup.
On `audit_events` it may only read and insert: UPDATE, DELETE and TRUNCATE are not granted, so a
compromised app cannot rewrite history. Not being the owner, it also cannot drop the append-only
trigger or the table (requirement 92).

Run the grant as the owning role after `alembic upgrade head`. Default privileges extend the grants
to tables that later migrations create, as long as the same owner runs them.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ("app_role_statements", "grant_app_role")

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPEND_ONLY_TABLES = ("audit_events",)


def app_role_statements(role: str, schema: str = "public") -> list[str]:
    """The SQL that gives `role` what the app needs and no more. Names are checked, then quoted."""
    for name in (role, schema):
        if not _ROLE_NAME.fullmatch(name):
            raise ValueError(f"not a plain PostgreSQL name (lower-case letters, digits, _): {name!r}")
    r, s = f'"{role}"', f'"{schema}"'
    statements = [
        f"GRANT USAGE, CREATE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {s}.alembic_version FROM {r}",
    ]
    statements += [f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{t} FROM {r}" for t in APPEND_ONLY_TABLES]
    return statements


async def grant_app_role(owner_url: str, role: str) -> list[str]:
    """Apply the grants for an existing `role`, connected as the tables' owner; return what ran."""
    statements = app_role_statements(role)
    engine = create_async_engine(owner_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            superuser = await conn.scalar(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}
            )
            if superuser is None:
                raise ValueError(
                    f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '...' first"
                )
            if superuser:
                raise ValueError(f"role {role!r} is a superuser, and a superuser ignores every grant")
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
    return statements
