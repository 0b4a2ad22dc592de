"""Signing in and out, and re-authenticating for sensitive actions (sudo)."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import TooManyRequestsException
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.guards import requires_anonymous, requires_user
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.second_factor import continue_sign_in
from app.auth.core.sessions import SessionKind
from app.auth.core.signin import InvalidCredentialsError, ThrottledError, authenticate, sign_out
from app.auth.core.sudo import (
    CodeRequiredError,
    PasskeyRequiredError,
    clear_replay,
    confirm_sudo,
    read_replay,
    sudo_factors,
)
from app.auth.core.toolkit import security_of
from app.auth.forms import SignInForm
from app.auth.routes.common import NO_STORE, FormData
from app.auth.routes.two_factor import problem_text
from app.db import DBSession
from app.web.htmx import render, see_other

GENERIC_FAILURE = "That email and password do not match an account we can sign you in to."


class SessionController(Controller):
    """Sign in, sign out, sudo."""

    include_in_schema = False

    @get("/login", name="login", guards=[requires_anonymous])
    async def form(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
        """The sign-in form."""
        form = SignInForm(next=safe_redirect_target(next, default=""))
        signed_out = request.query_params.get("signed_out") == "1"
        deleted = request.query_params.get("deleted") == "1"
        return render(
            request, "auth/login.html", form=form, error=None, signed_out=signed_out, deleted=deleted,
            headers=NO_STORE,
        )  # fmt: skip

    @post("/login", name="login_submit", guards=[requires_anonymous, limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Check the credentials; one generic answer for every kind of failure."""
        form = SignInForm.parse(data)
        try:
            user = await authenticate(db_session, request, form.email, form.password)
        except ThrottledError as exc:
            raise TooManyRequestsException(headers={"Retry-After": str(exc.retry_after)}) from exc
        except InvalidCredentialsError:
            return render(
                request,
                "auth/login.html",
                fragment="auth/_login_form.html",
                form=form,
                error=GENERIC_FAILURE,
                signed_out=False,
                deleted=False,
                status=422,
                headers=NO_STORE,
            )
        # No (safe) destination asked for: the adapter decides where a signed-in user lands.
        return await continue_sign_in(
            db_session,
            request,
            user,
            kind=SessionKind.PASSWORD,
            redirect=partial(see_other, request),
            remember=form.remember,
            next_url=form.next or None,
        )

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """End this session, forget this browser, clear its data."""
        response = see_other(request, "/login?signed_out=1")
        await sign_out(db_session, request, response)
        return response

    @get("/sudo", name="sudo", guards=[requires_user, refuses_impersonation])
    async def sudo_form(
        self, request: Request[Any, Any, Any], db_session: DBSession, next: FromQuery[str | None] = None
    ) -> Template:
        """Confirm it is you before a sensitive action, with the strongest factor the account has."""
        return await self._sudo_page(request, db_session, safe_redirect_target(next, default="/settings"))

    @post("/sudo", name="sudo_submit", guards=[requires_user, refuses_impersonation, limit_posts_per_ip])
    async def sudo_submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Re-check the password (and code); then a fresh session token, a fresh sudo window, and
        the interrupted action, if one was kept, ready to finish."""
        target = safe_redirect_target(data.get("next"), default="/settings")
        security = security_of(request)
        replay = read_replay(request)
        response: Response[Any] = (
            render(request, "auth/sudo_continue.html", replay=replay, headers=NO_STORE)
            if replay is not None
            else see_other(request, target)
        )
        try:
            await confirm_sudo(db_session, request, response, data.get("password", ""), data.get("code", ""))
        except ThrottledError as exc:
            raise TooManyRequestsException(headers={"Retry-After": str(exc.retry_after)}) from exc
        except InvalidCredentialsError:
            return await self._sudo_page(request, db_session, target, "That password is not right.", 422)
        except PasskeyRequiredError:
            return await self._sudo_page(request, db_session, target, "Use your passkey to confirm.", 422)
        except CodeRequiredError as exc:
            problem = exc.problem
            if problem is None:
                message = "Type the code from your authenticator app too."
            else:
                message = problem_text(problem)
            status = 429 if problem is not None and problem.kind == "locked" else 422
            return await self._sudo_page(request, db_session, target, message, status)
        if replay is not None:
            clear_replay(response, security)
        return response

    async def _sudo_page(
        self,
        request: Request[Any, Any, Any],
        db: DBSession,
        target: str,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "auth/sudo.html",
            fragment="auth/_sudo_form.html" if error else None,
            next=target,
            error=error,
            factors=await sudo_factors(db, request),
            replay=read_replay(request),
            status=status,
            headers=NO_STORE,
        )
