"""How core code reaches the request's database session, and gives its connection back early.

The host's database wiring (`app.state.db_config`) creates one session per request, commits it
before the response and closes it. Core code uses that same session for everything a request does
(session resume, throttles, rate-limit counters, audit), so a request never holds one pool
connection while waiting for a second: under a burst of sign-ins, requests doing that would take
every connection and wait forever for one more.

Slow work (hashing a password) must not hold a connection either: `release_connection` commits
what the request has done so far, which hands the connection back to the pool; the session takes
a connection again on its next statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.datastructures import State
    from litestar.types import Scope
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

__all__ = (
    "DB_STATE_KEY",
    "RequestDBConfig",
    "autocommit_engine",
    "release_connection",
    "request_session",
    "session_info",
)

DB_STATE_KEY = "db_config"
"""Where the host keeps its database wiring on `app.state`."""


class RequestDBConfig(Protocol):
    """What the core needs of the host's database wiring."""

    def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        """The request's own session (created on first use, closed when the response is sent)."""

    def get_engine(self) -> AsyncEngine:
        """The engine, for work outside any request (startup, jobs)."""


def request_session(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncSession:
    """The session of this request (the same object the route handler gets)."""
    config: RequestDBConfig = connection.app.state[DB_STATE_KEY]
    return config.provide_session(connection.app.state, connection.scope)


def session_info(db_config: RequestDBConfig) -> dict[str, Any]:
    """What the host puts in every request session's `info` (the security event listener, say), for a
    session core code opens itself; empty when the wiring has none."""
    configured = getattr(getattr(db_config, "session_config", None), "info", None)
    return dict(configured) if isinstance(configured, dict) else {}


async def release_connection(db: AsyncSession) -> None:
    """Commit the work so far and return the connection to the pool (before hashing, say)."""
    if db.in_transaction():
        await db.commit()


def autocommit_engine(db_config: RequestDBConfig, extra: dict[str, Any]) -> AsyncEngine:
    """The app's engine with each statement its own transaction (made once, kept in `extra`).

    For the reads core code does before a handler runs (session resume, the organization of the
    URL) on a connection of their own, given back before the handler takes one.
    """
    engine: AsyncEngine | None = extra.get(_AUTOCOMMIT_KEY)
    if engine is None:
        engine = db_config.get_engine().execution_options(isolation_level="AUTOCOMMIT")
        extra[_AUTOCOMMIT_KEY] = engine
    return engine


_AUTOCOMMIT_KEY = "db.autocommit_engine"
