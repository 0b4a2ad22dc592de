"""Database wiring: one async engine per process, one session per request, commit before the reply.

Models inherit Advanced Alchemy's `UUIDv7AuditBase` (time-ordered UUID primary key, `created_at`,
`updated_at`); `metadata` below is what Alembic compares the migrations against.

A request's session is committed just before the response starts when the status is 2xx/3xx and
rolled back otherwise. GET and HEAD requests change nothing (requirement 81), so their session runs
in autocommit mode: no BEGIN/COMMIT round trips, which keeps an authenticated page at two queries. Work that must only happen once the data is safe (sending mail) waits in the
session's outbox and is handed to the job queue right after that commit: see `app.jobs`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import structlog
from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.config import AsyncSessionConfig
from advanced_alchemy.extensions.litestar import EngineConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.extensions.litestar._utils import (
    delete_aa_scope_state,
    get_aa_scope_state,
    set_aa_scope_state,
)
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from litestar.datastructures import State
    from litestar.types import Message, Scope

    from app.settings import Settings

__all__ = ("Base", "DBSession", "build_db_config", "build_db_plugin", "metadata")

log = structlog.get_logger(__name__)

Base = UUIDv7AuditBase
"""Base class of every Gatehouse model: UUIDv7 `id`, `created_at`, `updated_at`."""

metadata = orm_registry.metadata
"""All tables of the app (Alembic's target)."""

DBSession: TypeAlias = NamedDependency[AsyncSession]
"""Handler parameter type for the request's database session: `db_session: DBSession`."""

AfterCommit = Callable[["AsyncSession", "Scope"], Awaitable[None]]


READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class RequestDBConfig(SQLAlchemyAsyncConfig):
    """Advanced Alchemy's config, with transaction-free sessions for read-only requests."""

    _autocommit_maker: async_sessionmaker[AsyncSession] | None = field(default=None, init=False, repr=False)

    def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        """The request's session, created on first use; autocommit for GET/HEAD/OPTIONS."""
        session: AsyncSession | None = get_aa_scope_state(scope, self.session_scope_key)
        if session is None:
            if scope.get("method") in READ_ONLY_METHODS:
                session = self.autocommit_maker()()
                set_aa_scope_state(scope, self.session_scope_key, session)
            else:
                session = super().provide_session(state, scope)
        return session

    def autocommit_maker(self) -> async_sessionmaker[AsyncSession]:
        """Sessions whose connections run each statement in its own implicit transaction."""
        if self._autocommit_maker is None:
            engine = self.get_engine().execution_options(isolation_level="AUTOCOMMIT")
            configured = self.session_config.info
            info = dict(configured) if isinstance(configured, dict) else {}
            self._autocommit_maker = async_sessionmaker(engine, expire_on_commit=False, info=info)
        return self._autocommit_maker


def build_db_config(
    settings: Settings, after_commit: AfterCommit | None = None, session_info: dict[str, Any] | None = None
) -> RequestDBConfig:
    """The Advanced Alchemy configuration for `settings`; every request session gets `session_info`."""
    config = RequestDBConfig(
        connection_string=settings.sqlalchemy_url,
        engine_config=EngineConfig(
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            # Never more connections than the pool: a request holds at most one, so waiting for a
            # free one is short, and past `db_pool_timeout` the client gets a clean 503.
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout,
            # A checkout pings its connection first (one short round trip), so a connection that a
            # database restart killed is replaced, not handed to a request that would then fail.
            pool_pre_ping=True,
            pool_recycle=1800,
        ),
        session_config=AsyncSessionConfig(expire_on_commit=False, info=dict(session_info or {})),
        create_all=False,
        set_default_exception_handler=False,
    )
    # Advanced Alchemy makes the scope key unique per config (a second app in one process gets
    # `..._1`), so the handler must be built with the key the config actually uses.
    config.before_send_handler = _commit_before_reply(config.session_scope_key, after_commit)
    return config


def build_db_plugin(config: SQLAlchemyAsyncConfig) -> SQLAlchemyPlugin:
    """The Litestar plugin that provides `db_session` to handlers."""
    return SQLAlchemyPlugin(config=config)


def _commit_before_reply(
    scope_key: str, after_commit: AfterCommit | None
) -> Callable[[Message, Scope], Awaitable[None]]:
    """Commit on 2xx/3xx, roll back otherwise, then run `after_commit` (the mail outbox of whatever
    did commit).

    Unlike Advanced Alchemy's stock autocommit handler, a failed commit is not swallowed: the error
    propagates and the client gets a 500 instead of a success page for data that was never saved.
    """

    async def handler(message: Message, scope: Scope) -> None:
        session: AsyncSession | None = get_aa_scope_state(scope, scope_key)
        if session is None:
            return
        if message["type"] == "http.response.start":
            try:
                if 200 <= message["status"] < 400:
                    # A read-only request's session autocommits: each statement already stood alone.
                    if scope.get("method") not in READ_ONLY_METHODS:
                        await session.commit()
                    if after_commit is not None:
                        await after_commit(session, scope)
                else:
                    await session.rollback()
                    if after_commit is not None:
                        # Work a flow committed early (and its mail) stands even though this
                        # request failed; only rows of committed transactions are relayed.
                        await after_commit(session, scope)
            finally:
                await session.close()
                delete_aa_scope_state(scope, scope_key)
        elif message["type"] == "http.disconnect":
            await session.close()
            delete_aa_scope_state(scope, scope_key)

    return handler


def outbox(session: AsyncSession) -> list[Any]:
    """Jobs waiting for this session's transaction to commit."""
    pending: list[Any] = session.info.setdefault("outbox", [])
    return pending
