"""Who is making this request: resume the session from its cookie, or restore one from remember-me.

Runs before every route handler (not for static files or health checks) and sets `request.user`
(a `User` or None) and `request.auth` (the `CurrentSession` or None). It never creates a session
from a cookie value it did not issue: an unknown or expired token simply means "signed out", and
the stale cookie is cleared.

Restoring from remember-me writes (a new session, a rotated validator) in its own transaction, so
the rotation sticks even if the request itself fails; otherwise the browser would hold a validator
the database forgot, and its next visit would look like theft.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit_log import audit
from app.auth.core.db import autocommit_engine, session_info
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.remember import RememberVerdict
from app.auth.core.remember_store import restore
from app.auth.core.second_factor import browser_is_trusted, factors_of, start_pending
from app.auth.core.session_store import CurrentSession, CurrentUser, begin_session, resume_session
from app.auth.core.sessions import SessionKind
from app.auth.core.toolkit import Security, security_of

if TYPE_CHECKING:
    from uuid import UUID

    from litestar import Litestar, Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from app.auth.core.db import RequestDBConfig

SKIP_PREFIXES = ("/static/", "/healthz", "/api/")
"""Paths that never resume a browser session: files, probes, and the bearer-token API [78]."""


class AuthenticationMiddleware:
    """ASGI middleware that fills `scope["user"]` and `scope["auth"]`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        litestar_app: Litestar = scope["litestar_app"]
        request: Request[Any, Any, Any] = litestar_app.request_class(scope, receive)
        security = security_of(litestar_app)
        db_config: RequestDBConfig = litestar_app.state.db_config
        outgoing: list[Cookie] = []

        current, user = await self._identify(request, security, db_config, outgoing)
        scope["user"] = user
        scope["auth"] = current
        await self.app(scope, receive, _with_cookies(send, outgoing) if outgoing else send)

    async def _identify(
        self,
        request: Request[Any, Any, Any],
        security: Security,
        db_config: RequestDBConfig,
        outgoing: list[Cookie],
    ) -> tuple[CurrentSession | None, CurrentUser | None]:
        names = security.cookies
        token = request.cookies.get(names.session)
        if token:
            # A connection of its own, given back before the handler runs: the request never
            # holds two at once, and a page that needs no query of its own costs one statement.
            async with autocommit_engine(db_config, security.extra).connect() as conn:
                resumed = await resume_session(conn, token, security)
            if resumed is not None:
                return resumed
            outgoing.append(_expired(names.session, security))
        if request.cookies.get(names.pre_session):
            # A sign-in is waiting for its second factor: nothing else signs this browser in
            # (not even remember-me) until it is answered or its pre-session lapses [15][16].
            request.scope["pre_session"] = True  # type: ignore[typeddict-unknown-key]
            return None, None
        remembered = request.cookies.get(names.remember)
        if remembered:
            return await self._restore(request, remembered, security, db_config, outgoing)
        return None, None

    async def _restore(
        self,
        request: Request[Any, Any, Any],
        cookie: str,
        security: Security,
        db_config: RequestDBConfig,
        outgoing: list[Cookie],
    ) -> tuple[CurrentSession | None, CurrentUser | None]:
        names = security.cookies
        # The request's own session does not exist yet; this one carries the same `info`, so a theft
        # noticed here reaches the security event listener like any other audit event.
        async with AsyncSession(
            db_config.get_engine(), expire_on_commit=False, info=session_info(db_config)
        ) as db:
            restored = await restore(db, cookie, security)
            if restored.verdict is RememberVerdict.THEFT:
                await audit(
                    db, request, "auth.remember.reuse_detected", outcome="failure", user_id=restored.owner_id
                )
            if restored.user is None:
                await db.commit()
                if restored.verdict is not RememberVerdict.RACE:
                    outgoing.append(_expired(names.remember, security))
                return None, None
            if restored.new_cookie:
                max_age = int(security.policy.remember_me_lifetime.total_seconds())
                outgoing.append(_cookie(names.remember, restored.new_cookie, security, max_age=max_age))
            if await _owes_second_factor(db, request, restored.user.id, security):
                # Remember-me stands in for the password only [15]: the second factor is still asked.
                token = await start_pending(
                    db,
                    security,
                    restored.user.id,
                    method=SessionKind.REMEMBERED,
                    remember_token_id=restored.token_id,
                    next_url=_return_path(request),
                )
                await audit(
                    db,
                    request,
                    "auth.login.second_factor_required",
                    user_id=restored.user.id,
                    method="remembered",
                )
                await db.commit()
                ttl = int(security.policy.pending_login_ttl.total_seconds())
                outgoing.append(_cookie(names.pre_session, token, security, max_age=ttl))
                request.scope["pre_session"] = True  # type: ignore[typeddict-unknown-key]
                return None, None
            new = await begin_session(
                db,
                request,
                restored.user,
                SessionKind.REMEMBERED,
                security,
                remember_token_id=restored.token_id,
            )
            await db.commit()
        outgoing.append(_cookie(names.session, new.token, security))
        # Load the session the normal way so the rest of the request sees the same values.
        async with autocommit_engine(db_config, security.extra).connect() as conn:
            resumed = await resume_session(conn, new.token, security)
        return resumed if resumed is not None else (None, None)


async def _owes_second_factor(
    db: AsyncSession, request: Request[Any, Any, Any], user_id: UUID, security: Security
) -> bool:
    """Whether the account has a second factor this browser is not trusted to skip."""
    factors = await factors_of(db, user_id)
    return factors.required and not await browser_is_trusted(db, request, user_id, security)


def _return_path(request: Request[Any, Any, Any]) -> str:
    """The page to open once the second factor is answered: this one, for a plain page view."""
    if request.method != "GET" or request.headers.get("hx-request") == "true":
        return ""
    query = request.url.query
    return safe_redirect_target(request.url.path + (f"?{query}" if query else ""), default="")


def _cookie(name: str, value: str, security: Security, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path="/",
        httponly=True,
        secure=security.secure_cookies,
        samesite="lax",
        max_age=max_age,
    )


def _expired(name: str, security: Security) -> Cookie:
    return Cookie(
        key=name, value="", path="/", httponly=True, secure=security.secure_cookies, samesite="lax", max_age=0
    )


def _with_cookies(send: Send, cookies: list[Cookie]) -> Send:
    """A `send` that adds `cookies` to the response unless the handler set the same names itself."""

    async def send_with_cookies(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            already = {value.split("=", 1)[0] for value in headers.getall("set-cookie", [])}
            for cookie in cookies:
                if cookie.key not in already:
                    headers.add("set-cookie", cookie.to_header(header=""))
        await send(message)

    return send_with_cookies
