"""Session rows: start, resume, touch, list and end them; set and clear their cookies.

The decisions (timeouts, sudo) live in `sessions`; this module is the storage and the cookie
plumbing. Resuming a session is one query that loads the session and its user together,
so an authenticated page costs a single round trip before the page's own query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, Response
from sqlalchemy import ColumnElement, Executable, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.limits import client_address
from app.auth.core.models import (
    ApiGrant,
    ApiRefreshToken,
    AuthSession,
    PlatformAdmin,
    RememberToken,
    TrustedBrowser,
    UserSecurityColumns,
)
from app.auth.core.sessions import (
    NewSession,
    SessionKind,
    SessionTimes,
    idle_cutoff,
    is_live,
    needs_touch,
    start_session,
)
from app.auth.core.tokens import token_digest
from app.auth.core.toolkit import Security


@dataclass(frozen=True)
class CurrentSession:
    """The signed-in session of this request (`request.auth`)."""

    id: UUID
    kind: str
    created_at: datetime
    authenticated_at: datetime | None
    expires_at: datetime | None = None
    """The absolute end (an impersonation's banner counts down to it)."""
    impersonator_id: UUID | None = None
    """Set while an administrator is signed in as this user (see `impersonation`) [75]."""

    @property
    def is_impersonation(self) -> bool:
        """Whether an administrator, not the user, is at the keyboard."""
        return self.impersonator_id is not None


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user of this request (`request.user`): the few values pages need, read-only.

    `extra` holds the host's own columns named in `Security.current_user_columns` (such as
    `display_name`); they read as attributes too (`request.user.display_name`).
    """

    id: UUID
    email: str
    has_password: bool
    extra: Mapping[str, Any] = field(default_factory=dict)
    is_platform_admin: bool = False
    """Whether the user may open the admin console (the guard checks again; this only shows the link)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self.extra[name]
        except KeyError:
            raise AttributeError(name) from None


async def begin_session(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    user: UserSecurityColumns,
    kind: SessionKind,
    security: Security,
    *,
    remember_token_id: UUID | None = None,
) -> NewSession:
    """Store a new session for `user`, ending the oldest beyond the per-user limit."""
    new = start_session(kind, clock=security.clock, policy=security.policy)
    agent = request.headers.get("user-agent", "")[:512]
    db.add(
        AuthSession(
            token_hash=new.token_hash,
            user_id=user.id,
            kind=new.kind.value,
            created_at=new.started_at,
            last_seen_at=new.started_at,
            expires_at=new.expires_at,
            authenticated_at=new.authenticated_at,
            ip_address=client_address(request),
            user_agent=agent,
            device_label=security.adapter.device_label(agent),
            remember_token_id=remember_token_id,
        )
    )
    await db.flush()
    await _evict_oldest(db, user.id, keep=security.policy.max_sessions_per_user)
    return new


async def _evict_oldest(db: AsyncSession, user_id: UUID, keep: int) -> None:
    own = (AuthSession.user_id == user_id) & AuthSession.impersonator_id.is_(None)
    newest = (
        select(AuthSession.id)
        .where(own)
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        .limit(keep)
    )
    await db.execute(delete(AuthSession).where(own, AuthSession.id.not_in(newest)))


async def resume_session(
    db: AsyncConnection, token: str, security: Security
) -> tuple[CurrentSession, CurrentUser] | None:
    """The live session for a cookie token and its (active) user; expired rows are deleted.

    One statement, built once (`_resume_statement`), reading only the columns a request uses, on
    a plain connection (no ORM session: nothing here needs one, and a page that makes no query of
    its own then costs no session at all). The user comes back as an immutable `CurrentUser`; a
    flow that changes the account loads the row itself (`load_account`). Run it on an autocommit
    connection, so the rare write (touch, delete) stands on its own.
    """
    now = security.clock.now()
    row = (await db.execute(_resume_statement(security), {"digest": token_digest(token)})).first()
    if row is None:
        return None
    times = SessionTimes(row.last_seen_at, row.expires_at, row.authenticated_at)
    if not is_live(times, now, security.policy) or not row.is_active:
        # An impersonation that ran out takes the administrator's parked session with it: the
        # browser is signed out, never handed back its administrator's privileges unasked [75].
        ended = [row.session_id] + ([row.parent_session_id] if row.parent_session_id else [])
        await db.execute(delete(AuthSession).where(AuthSession.id.in_(ended)))
        return None
    if needs_touch(times, now, security.policy):
        await db.execute(update(AuthSession).where(AuthSession.id == row.session_id).values(last_seen_at=now))
    current = CurrentSession(
        id=row.session_id,
        kind=row.kind,
        created_at=row.session_created_at,
        authenticated_at=row.authenticated_at,
        expires_at=row.expires_at,
        impersonator_id=row.impersonator_id,
    )
    extra = {name: getattr(row, name) for name in security.current_user_columns}
    user = CurrentUser(
        id=row.user_id,
        email=row.email,
        has_password=row.has_password,
        extra=extra,
        is_platform_admin=row.is_platform_admin,
    )
    return current, user


def _resume_statement(security: Security) -> Executable:
    """The resume query for this deployment's user model, built on first use and kept."""
    cached: Executable | None = security.extra.get(_RESUME_KEY)
    if cached is None:
        users = security.users
        host_columns = [getattr(users, name) for name in security.current_user_columns]
        cached = (
            select(
                AuthSession.id.label("session_id"),
                AuthSession.kind,
                AuthSession.created_at.label("session_created_at"),
                AuthSession.last_seen_at,
                AuthSession.expires_at,
                AuthSession.authenticated_at,
                AuthSession.impersonator_id,
                AuthSession.parent_session_id,
                users.id.label("user_id"),
                users.email,
                users.is_active,
                users.password_hash.is_not(None).label("has_password"),
                exists().where(PlatformAdmin.user_id == users.id).label("is_platform_admin"),
                *host_columns,
            )
            .join(users, users.id == AuthSession.user_id)
            .where(AuthSession.token_hash == bindparam("digest"))
        )
        security.extra[_RESUME_KEY] = cached
    return cached


_RESUME_KEY = "session_store.resume_statement"


async def load_account(db: AsyncSession, security: Security, user: CurrentUser) -> UserSecurityColumns:
    """The signed-in user's row, for a flow that changes the account (one more statement)."""
    return await db.get_one(security.users, user.id)


async def list_sessions(db: AsyncSession, user_id: UUID, security: Security) -> list[AuthSession]:
    """The user's live sessions, most recently used first (an administrator's impersonation is not theirs)."""
    now = security.clock.now()
    query = (
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.impersonator_id.is_(None),
            AuthSession.expires_at > now,
            AuthSession.last_seen_at > idle_cutoff(now, security.policy),
        )
        .order_by(AuthSession.last_seen_at.desc())
    )
    return list((await db.scalars(query)).all())


async def _end_where(db: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    """Delete matching sessions and the remember-me tokens of their browsers; the number of sessions."""
    result = await db.execute(
        delete(AuthSession).where(*conditions).returning(AuthSession.id, AuthSession.remember_token_id)
    )
    rows = result.all()
    remembered = [token_id for _, token_id in rows if token_id is not None]
    if remembered:
        # Otherwise the browser would simply sign itself back in on its next request.
        await db.execute(delete(RememberToken).where(RememberToken.id.in_(remembered)))
    return len(rows)


async def end_session(db: AsyncSession, session_id: UUID, *, user_id: UUID | None = None) -> bool:
    """Sign one browser out (only if the session belongs to `user_id`, when given). True if it existed."""
    conditions = [AuthSession.id == session_id]
    if user_id is not None:
        conditions.append(AuthSession.user_id == user_id)
    return await _end_where(db, *conditions) > 0


async def end_other_sessions(
    db: AsyncSession, user_id: UUID, keep: UUID, *, forget_trusted_browsers: bool = False
) -> int:
    """Sign out every browser of the user except the session `keep`; the number signed out.

    Remembered browsers whose session already ended are signed out too: their remember-me token
    is linked to no session any more, but would sign them straight back in. With
    `forget_trusted_browsers` ("sign out everywhere", a second-factor change) no browser may skip
    the second factor any more, this one included [27].
    """
    if forget_trusted_browsers:
        await db.execute(delete(TrustedBrowser).where(TrustedBrowser.user_id == user_id))
    kept_token = await db.scalar(select(AuthSession.remember_token_id).where(AuthSession.id == keep))
    ended = await _end_where(db, AuthSession.user_id == user_id, AuthSession.id != keep)
    await revoke_user_grants(db, user_id)
    others = delete(RememberToken).where(RememberToken.user_id == user_id)
    if kept_token is not None:
        others = others.where(RememberToken.id != kept_token)
    await db.execute(others)
    return ended


async def end_all_sessions(db: AsyncSession, user_id: UUID) -> None:
    """Delete every session of the user (and revoke their API JWT grants, which are sign-ins too)."""
    await db.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    await revoke_user_grants(db, user_id)


async def revoke_user_grants(db: AsyncSession, user_id: UUID) -> None:
    """Revoke every live API JWT grant of the user: their access and refresh tokens stop at once [79].

    Called wherever the user's browsers are signed out everywhere (a password reset or change,
    a disabled or locked account, "sign out everywhere"): a JWT must not outlive what ends a session.
    """
    now = func.now()
    live = select(ApiGrant.id).where(ApiGrant.user_id == user_id, ApiGrant.revoked_at.is_(None))
    await db.execute(
        update(ApiRefreshToken)
        .where(ApiRefreshToken.grant_id.in_(live), ApiRefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await db.execute(
        update(ApiGrant)
        .where(ApiGrant.user_id == user_id, ApiGrant.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def mark_reauthenticated(db: AsyncSession, current: CurrentSession, security: Security) -> NewSession:
    """Sudo: replace the session's token (fresh id, requirement 18) and stamp fresh credentials."""
    now = security.clock.now()
    new = start_session(SessionKind.PASSWORD, clock=security.clock, policy=security.policy)
    # Re-authentication restarts both clocks [20]: idle and absolute.
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == current.id)
        .values(token_hash=new.token_hash, authenticated_at=now, last_seen_at=now, expires_at=new.expires_at)
    )
    return new


def set_session_cookie(response: Response[Any], token: str, security: Security) -> None:
    """The session cookie: no Max-Age, so it ends with the browser (remember-me is separate)."""
    set_cookie(response, security.cookies.session, token, secure=security.secure_cookies)


def clear_session_cookie(response: Response[Any], security: Security) -> None:
    """Remove the session cookie from the browser."""
    expire_cookie(response, security.cookies.session, secure=security.secure_cookies)
