"""Signing in by email: ask for a link, type the code, or open the link and press "Sign in"."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.guards import requires_anonymous
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.magic import (
    LinkState,
    look_at_link,
    magic_cookie_max_age,
    request_magic_link,
    sign_in_with_code,
    sign_in_with_link,
)
from app.auth.core.models import UserSecurityColumns
from app.auth.core.pacing import paced
from app.auth.core.pending import clear_pending_cookie, read_pending, set_pending_cookie
from app.auth.core.second_factor import continue_sign_in
from app.auth.core.sessions import SessionKind
from app.auth.core.toolkit import Security
from app.auth.forms import CodeForm, MagicLinkForm
from app.auth.routes.common import (
    NO_STORE,
    TOKEN_PAGE_HEADERS,
    FormData,
    code_problem_answer,
    code_problem_text,
    forget_link_token,
    kept_link_token,
    land_from_mail,
)
from app.db import DBSession
from app.settings import Settings
from app.web.htmx import render, see_other


def requires_feature_magic_link(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Switched off in settings, sign-in by email does not exist: every route answers 404."""
    settings: Settings = connection.app.state.settings
    if not settings.feature_magic_link:
        raise NotFoundException()


REQUEST_PATH = "/login/email"
CHECK_INBOX_PATH = "/login/email/check-inbox"
CODE_PATH = "/login/email/code"
LINK_PATH = "/login/email/link"  # mailed links point here: keep AccountAdapter.PAGES["magic_link"] in step


class MagicLinkController(Controller):
    """From "email me a sign-in link" to a signed-in user, by link or by code."""

    include_in_schema = False
    guards = [requires_feature_magic_link]

    @get(REQUEST_PATH, name="magic_link", guards=[requires_anonymous])
    async def form(self, request: Request[Any, Any, Any]) -> Template:
        """The "email me a sign-in link" form."""
        return render(request, "auth/magic_request.html", form=MagicLinkForm(), headers=NO_STORE)

    @post(REQUEST_PATH, name="magic_link_submit", guards=[paced, requires_anonymous, limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Mail a link and a code if the address has an account; the same answer either way."""
        security: Security = request.app.state.security
        form = MagicLinkForm.parse(data)
        if form.errors:
            return render(
                request,
                "auth/magic_request.html",
                fragment="auth/_magic_request_form.html",
                form=form,
                status=422,
                headers=NO_STORE,
            )
        pending = await request_magic_link(db_session, request, form.email)
        response = see_other(request, CHECK_INBOX_PATH)
        set_pending_cookie(
            response, pending, security, name=security.cookies.magic, max_age=magic_cookie_max_age(security)
        )
        return response

    @get(CHECK_INBOX_PATH, name="magic_link_check_inbox")
    async def check_inbox(self, request: Request[Any, Any, Any]) -> Template:
        """Where to look for the mail, and a box for its code."""
        security: Security = request.app.state.security
        pending = read_pending(request, security, name=security.cookies.magic)
        return render(
            request, "auth/magic_check_inbox.html", pending=pending, form=CodeForm(), headers=NO_STORE
        )

    @post(CODE_PATH, name="magic_link_code", guards=[limit_posts_per_ip])
    async def code(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Sign in with the code from the mail (works only in the browser that asked for it)."""
        security: Security = request.app.state.security
        pending = read_pending(request, security, name=security.cookies.magic)
        form = CodeForm.parse(data)
        problem = None
        if not form.errors:
            attempt = await sign_in_with_code(db_session, request, pending, form.code)
            if attempt.user is not None:
                return await self._sign_in(db_session, request, attempt.user)
            problem = attempt.problem
            form.errors["code"] = code_problem_text(
                problem,
                throttled="Too many failed attempts.",
                expired="This code has expired or was used up. Ask for a new one below.",
            )
        status, wait = code_problem_answer(problem)
        return render(
            request,
            "auth/magic_check_inbox.html",
            fragment="auth/_magic_code_form.html",
            pending=pending,
            form=form,
            status=status,
            headers={**NO_STORE, **wait},
        )

    @get(LINK_PATH, name="magic_link_landing")
    async def link_page(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str | None] = None
    ) -> Response[Any]:
        """Landing from the mail: move the token out of the URL, then offer a button (GET never spends it)."""
        if token:
            return land_from_mail(request, LINK_PATH, token)
        link = await look_at_link(db_session, request, kept_link_token(request))
        return render(request, "auth/magic_sign_in.html", link=link, headers=TOKEN_PAGE_HEADERS)

    @post(LINK_PATH, name="magic_link_sign_in", guards=[limit_posts_per_ip])
    async def link_submit(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Spend the link's token and sign in, in the browser that asked for it."""
        security: Security = request.app.state.security
        link = await sign_in_with_link(db_session, request, kept_link_token(request))
        if link.user is None:
            status = 403 if link.state is LinkState.OTHER_BROWSER else 410
            response: Response[Any] = render(
                request, "auth/magic_sign_in.html", link=link, status=status, headers=TOKEN_PAGE_HEADERS
            )
            if link.state is LinkState.GONE:
                forget_link_token(response, security)
            return response
        response = await self._sign_in(db_session, request, link.user)
        forget_link_token(response, security)
        return response

    async def _sign_in(
        self, db: DBSession, request: Request[Any, Any, Any], user: UserSecurityColumns
    ) -> Response[Any]:
        # The mail replaces only the password: an account with a second factor is asked for it next.
        security: Security = request.app.state.security
        response = await continue_sign_in(
            db, request, user, kind=SessionKind.MAGIC_LINK, redirect=partial(see_other, request)
        )
        clear_pending_cookie(response, security, name=security.cookies.magic)
        return response
