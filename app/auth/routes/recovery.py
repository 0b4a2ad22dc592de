"""Forgotten passwords: ask for a reset link, then choose a new password with it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.mail_tokens import Purpose, find_live_token
from app.auth.core.pacing import paced
from app.auth.core.pending import new_pending, read_pending, set_pending_cookie
from app.auth.core.recovery import complete_reset, request_reset
from app.auth.core.toolkit import Security
from app.auth.forms import MagicLinkForm, PasswordForm
from app.auth.models import User
from app.auth.routes.common import (
    NO_STORE,
    TOKEN_PAGE_HEADERS,
    FormData,
    forget_link_token,
    kept_link_token,
    land_from_mail,
)
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

SENT_COOKIE_AGE = 15 * 60
"""Seconds the "check your inbox" page remembers which address was asked for (a display nicety)."""
RESET_PATH = "/reset-password"  # mailed links point here: keep AccountAdapter.PAGES["reset_password"] in step


def _sent_cookie(security: Security) -> str:
    """The cookie holding the address a reset link was asked for (prefixed like the core's cookies)."""
    return security.cookies.pending.removesuffix("pending") + "reset_asked"


class RecoveryController(Controller):
    """/forgot-password and /reset-password."""

    include_in_schema = False

    @get("/forgot-password", name="forgot_password")
    async def form(self, request: Request[Any, Any, Any]) -> Template:
        """Ask for a reset link."""
        return render(request, "auth/forgot_password.html", email="", error=None, headers=NO_STORE)

    @post("/forgot-password", name="forgot_password_submit", guards=[paced, limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """The same answer for every address: "if it has an account, a link is on its way".

        Only the address's syntax is judged (saying "that is not an address" reveals nothing about
        accounts); the next page repeats the address from a signed cookie, so a typo shows.
        """
        security: Security = request.app.state.security
        form = MagicLinkForm.parse(data)
        if form.errors:
            return render(
                request,
                "auth/forgot_password.html",
                fragment="auth/_forgot_password_form.html",
                email=form.email,
                error=form.errors["email"],
                status=422,
                headers=NO_STORE,
            )
        await request_reset(db_session, request, form.email)
        response = see_other(request, "/forgot-password/sent")
        set_pending_cookie(
            response, new_pending(form.email), security, name=_sent_cookie(security), max_age=SENT_COOKIE_AGE
        )
        return response

    @get("/forgot-password/sent", name="forgot_password_sent")
    async def sent(self, request: Request[Any, Any, Any]) -> Template:
        """Where to look next, and for which address."""
        security: Security = request.app.state.security
        asked = read_pending(request, security, name=_sent_cookie(security))
        return render(
            request, "auth/forgot_password_sent.html", email=asked.email if asked else None, headers=NO_STORE
        )

    @get(RESET_PATH, name="reset_password")
    async def reset_form(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str | None] = None
    ) -> Response[Any]:
        """Landing from the mail: the token leaves the URL first; then the form (GET never spends it)."""
        if token:
            return land_from_mail(request, RESET_PATH, token)
        row = await self._live_token(request, db_session)
        user = await db_session.get(User, row.user_id) if row else None
        return render(
            request,
            "auth/reset_password.html",
            user=user,
            error=None,
            status=200 if user else 410,
            headers=TOKEN_PAGE_HEADERS,
        )

    @post(RESET_PATH, name="reset_password_submit", guards=[limit_posts_per_ip])
    async def reset_submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Check the new password, then spend the link and set it. The user then signs in normally."""
        security: Security = request.app.state.security
        row = await self._live_token(request, db_session)
        user = await db_session.get(User, row.user_id) if row else None
        if user is None:
            return self._expired(request)
        form = await sync_to_thread(
            PasswordForm.parse,
            data,
            policy=security.policy,
            email=user.email,
            app_name=request.app.state.settings.app_name,
        )
        if form.errors:
            return render(
                request,
                "auth/reset_password.html",
                fragment="auth/_reset_password_form.html",
                user=user,
                error=form.errors["password"],
                status=422,
                headers=TOKEN_PAGE_HEADERS,
            )
        token = kept_link_token(request)
        if await complete_reset(db_session, request, token, form.password) is None:
            return self._expired(request)
        flash(request, "Your password has been changed. Sign in with it now.", "success")
        response = see_other(request, "/login")
        forget_link_token(response, security)
        return response

    async def _live_token(self, request: Request[Any, Any, Any], db: DBSession) -> Any:
        security: Security = request.app.state.security
        kept = kept_link_token(request)
        return await find_live_token(db, security, kept, Purpose.RESET_PASSWORD) if kept else None

    def _expired(self, request: Request[Any, Any, Any]) -> Response[Any]:
        security: Security = request.app.state.security
        response: Response[Any] = render(
            request, "auth/reset_password.html", user=None, error=None, status=410, headers=TOKEN_PAGE_HEADERS
        )
        forget_link_token(response, security)
        return response
