"""The second step of signing in: an authenticator code, a backup code or a passkey.

The flow is the core's (`app.auth.core.second_factor`); this controller shows the step and turns
the core's answers into words. The page is reachable only with a live pre-session: without one
(it expired, or was never started) the browser is sent back to sign in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post

from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.second_factor import (
    SecondFactorProblem,
    answer_pending,
    cancel_pending,
    clear_pre_session_cookie,
    factors_of,
    finish_pending,
    load_pending,
)
from app.auth.core.toolkit import security_of
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.formatting import human_duration
from app.web.flash import Level, flash
from app.web.htmx import render, see_other

__all__ = ("STEP_PATH", "TwoFactorController", "problem_text")

STEP_PATH = "/login/two-factor"


def problem_text(problem: SecondFactorProblem) -> str:
    """What to tell someone whose code was refused."""
    if problem.kind == "locked":
        wait = human_duration(timedelta(seconds=problem.retry_after))
        return f"Too many wrong codes. Signing in with a code is paused for {wait}."
    if problem.tries_left:
        tries = "1 try" if problem.tries_left == 1 else f"{problem.tries_left} tries"
        return f"That code is not right. {tries} left."
    return "That code is not right."


class TwoFactorController(Controller):
    """`/login/two-factor`: finish signing in with the second factor."""

    include_in_schema = False

    @get(STEP_PATH, name="two_factor")
    async def form(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """The second step, for a browser whose first factor passed."""
        pending = await load_pending(db_session, request)
        if pending is None:
            if not request.cookies.get(security_of(request).cookies.pre_session):
                return see_other(request, "/login")  # no sign-in was started here: nothing to say
            return self._start_again(request, "Your sign-in timed out. Please sign in again.")
        factors = await factors_of(db_session, pending.user_id)
        return render(
            request, "auth/two_factor.html", factors=factors, error=None, trust=False, headers=NO_STORE
        )

    @post(STEP_PATH, name="two_factor_submit", guards=[limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Check the code; on success the session starts (and this browser is trusted if asked)."""
        pending = await load_pending(db_session, request, lock=True)
        if pending is None:
            return self._start_again(request, "Your sign-in timed out. Please sign in again.")
        trust = data.get("trust") == "on"
        user, result = await answer_pending(db_session, request, pending, data.get("code", ""))
        if isinstance(result, SecondFactorProblem):
            if result.kind == "restart":
                return self._start_again(request, "Too many wrong codes. Please sign in again.")
            status, headers = 422, dict(NO_STORE)
            if result.kind == "locked":
                status, headers = 429, {**NO_STORE, "Retry-After": str(result.retry_after)}
            factors = await factors_of(db_session, pending.user_id)
            return render(
                request,
                "auth/two_factor.html",
                fragment="auth/_two_factor_form.html",
                factors=factors,
                error=problem_text(result),
                trust=trust,
                status=status,
                headers=headers,
            )
        security = security_of(request)
        if result.backup_codes_left is not None:
            left = result.backup_codes_left
            level: Level = "warning" if left < security.policy.backup_codes_low else "info"
            flash(
                request,
                f"You used a backup code; {left} {'is' if left == 1 else 'are'} left."
                + (" Make a new set on your security page." if level == "warning" else ""),
                level,
            )
        target = pending.next_url or security.adapter.login_redirect_url(request, user)
        response = see_other(request, target)
        await finish_pending(db_session, request, response, pending, user, trust_browser=trust)
        return response

    @post(f"{STEP_PATH}/cancel", name="two_factor_cancel")
    async def cancel(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Give up on this sign-in (to use another account, or start over)."""
        response = see_other(request, "/login")
        await cancel_pending(db_session, request, response)
        return response

    def _start_again(self, request: Request[Any, Any, Any], message: str) -> Response[Any]:
        flash(request, message, "warning")
        response = see_other(request, "/login")
        clear_pre_session_cookie(response, security_of(request))
        return response
