"""Registration, the "check your inbox" page, confirming by code or by link, choosing a password."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.guards import requires_anonymous, requires_user
from app.auth.core.limits import client_address, enforce, limit_posts_per_ip, limit_rules
from app.auth.core.mail_tokens import Purpose, browser_digest, find_live_token, spend_token
from app.auth.core.models import UserSecurityColumns
from app.auth.core.pacing import paced
from app.auth.core.password_change import set_first_password
from app.auth.core.pending import clear_pending_cookie, read_pending, set_pending_cookie
from app.auth.core.registration import (
    AddressNotAllowedError,
    confirm_address,
    confirm_with_code,
    register,
    resend_confirmation,
)
from app.auth.core.second_factor import continue_sign_in
from app.auth.core.sessions import SessionKind
from app.auth.core.toolkit import Security
from app.auth.forms import CodeForm, PasswordForm, RegistrationForm, password_problems
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
from app.features import enabled
from app.web.flash import flash
from app.web.htmx import render, see_other
from app.web.landing import LANDING_PATH

CLOSED_FOR_ADDRESS = "Registration is not open for this address."
CONFIRM_PATH = "/confirm-email"  # mailed links point here: keep AccountAdapter.PAGES["confirm_email"] in step


class RegistrationController(Controller):
    """From "create an account" to a confirmed, signed-in user."""

    include_in_schema = False

    @get("/register", name="register", guards=[requires_anonymous])
    async def form(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The registration form (with the invited address, when coming from an invitation)."""
        invitation = None
        # --- feature: orgs
        if enabled(request.app.state.settings, "orgs"):
            from app.orgs.invitations import waiting_invitation

            invitation = await waiting_invitation(request, db_session)
        # --- end feature: orgs
        form = RegistrationForm(email=invitation.email if invitation else "")
        return render(request, "auth/register.html", form=form, invitation=invitation, headers=NO_STORE)

    @post("/register", name="register_submit", guards=[paced, requires_anonymous, limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Validate; then the same answer whether or not the address already has an account."""
        security: Security = request.app.state.security
        # The strength estimate costs up to ~0.1 s of CPU: keep it off the event loop.
        form = await sync_to_thread(
            RegistrationForm.parse, data, policy=security.policy, app_name=request.app.state.settings.app_name
        )
        if not form.errors:
            try:
                pending = await register(db_session, request, email=form.email, password=form.password)
            except AddressNotAllowedError:
                form.errors["email"] = CLOSED_FOR_ADDRESS
        if form.errors:
            return render(
                request,
                "auth/register.html",
                fragment="auth/_register_form.html",
                form=form,
                invitation=None,
                status=422,
            )
        response = see_other(request, "/register/check-inbox")
        lifetime = int(security.policy.confirmation_link_ttl.total_seconds())
        set_pending_cookie(response, pending, security, max_age=lifetime)
        return response

    @post("/register/password-check", name="register_password_check")
    async def password_check(self, request: Request[Any, Any, Any], data: FormData) -> Template:
        """Inline feedback on a password as it is typed (htmx); nothing is stored."""
        security: Security = request.app.state.security
        await enforce(request, limit_rules(request.app).password_checks, client_address(request))
        password = data.get("password", "")
        email, app_name = data.get("email", ""), request.app.state.settings.app_name
        problems = (
            await sync_to_thread(
                password_problems, password, policy=security.policy, email=email, app_name=app_name
            )
            if password
            else []
        )
        return Template(
            "auth/_password_feedback.html",
            context={"problems": problems, "typed": bool(password), "error": None},
            headers=NO_STORE,
        )

    @get("/register/check-inbox", name="check_inbox")
    async def check_inbox(self, request: Request[Any, Any, Any]) -> Template:
        """Where to look for the mail, a box for the code, and a way to get a new one."""
        security: Security = request.app.state.security
        pending = read_pending(request, security)
        return render(request, "auth/check_inbox.html", pending=pending, form=CodeForm(), headers=NO_STORE)

    @post("/register/confirm-code", name="confirm_code", guards=[limit_posts_per_ip])
    async def confirm_code(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Confirm with the code from the mail (works only in the browser that registered)."""
        security: Security = request.app.state.security
        pending = read_pending(request, security)
        form = CodeForm.parse(data)
        problem = None
        if not form.errors:
            attempt = await confirm_with_code(db_session, request, pending, form.code)
            if attempt.confirmed is not None:
                return await self._welcome(
                    db_session, request, attempt.confirmed.user, attempt.confirmed.password_applied
                )
            problem = attempt.problem
            form.errors["code"] = code_problem_text(
                problem,
                throttled="Too many wrong codes.",
                expired="This code has expired or was used up. Send a new one below.",
            )
        status, wait = code_problem_answer(problem)
        return render(
            request,
            "auth/check_inbox.html",
            fragment="auth/_code_form.html",
            pending=pending,
            form=form,
            status=status,
            headers={**NO_STORE, **wait},
        )

    @post("/register/resend", name="resend_confirmation", guards=[limit_posts_per_ip])
    async def resend(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Send a fresh link and code (same answer whatever happened)."""
        security: Security = request.app.state.security
        pending = read_pending(request, security)
        if pending is not None:
            await resend_confirmation(db_session, request, pending)
        flash(request, "If that address is waiting for confirmation, a new message is on its way.", "info")
        response = see_other(request, "/register/check-inbox")
        if pending is not None:  # the new link lives as long as the old one did: so does this browser's claim
            lifetime = int(security.policy.confirmation_link_ttl.total_seconds())
            set_pending_cookie(response, pending, security, max_age=lifetime)
        return response

    @get(CONFIRM_PATH, name="confirm_email")
    async def confirm_page(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str | None] = None
    ) -> Response[Any]:
        """Landing from the mail: move the token out of the URL, then offer a button (GET never spends it)."""
        security: Security = request.app.state.security
        if token:
            return land_from_mail(request, CONFIRM_PATH, token)
        kept = kept_link_token(request)
        live = await find_live_token(db_session, security, kept, Purpose.CONFIRM_EMAIL) if kept else None
        return render(request, "auth/confirm_email.html", token_row=live, headers=TOKEN_PAGE_HEADERS)

    @post(CONFIRM_PATH, name="confirm_email_submit", guards=[limit_posts_per_ip])
    async def confirm_submit(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Spend the link's token and confirm the address."""
        security: Security = request.app.state.security
        kept = kept_link_token(request)
        token = await spend_token(db_session, security, kept, Purpose.CONFIRM_EMAIL) if kept else None
        if token is None:
            response: Response[Any] = render(
                request, "auth/confirm_email.html", token_row=None, status=410, headers=TOKEN_PAGE_HEADERS
            )
            forget_link_token(response, security)
            return response
        pending = read_pending(request, security)
        same_browser = pending is not None and token.browser_hash == browser_digest(pending.nonce)
        confirmed = await confirm_address(db_session, request, token, same_browser=same_browser)
        response = await self._welcome(db_session, request, confirmed.user, confirmed.password_applied)
        forget_link_token(response, security)
        return response

    async def _welcome(
        self,
        db: DBSession,
        request: Request[Any, Any, Any],
        user: UserSecurityColumns,
        password_applied: bool,
    ) -> Response[Any]:
        security: Security = request.app.state.security
        if password_applied:
            flash(request, "Your address is confirmed. Welcome!", "success")
            next_url = LANDING_PATH
        else:
            flash(
                request,
                "Your address is confirmed. Choose your password on this device to finish.",
                "success",
            )
            next_url = "/welcome/password"
        response = await continue_sign_in(
            db,
            request,
            user,
            kind=SessionKind.EMAIL_CONFIRMATION,
            redirect=partial(see_other, request),
            next_url=next_url,
        )
        clear_pending_cookie(response, security)
        return response

    @get("/welcome/password", name="choose_password", guards=[requires_user])
    async def choose_password(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Choose a password after confirming from a device other than the one that registered."""
        if request.user.has_password:
            return see_other(request, "/settings")
        return render(request, "auth/choose_password.html", form=PasswordForm(), headers=NO_STORE)

    @post("/welcome/password", name="choose_password_submit", guards=[requires_user, limit_posts_per_ip])
    async def choose_password_submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Set the first password of an account that has none."""
        security: Security = request.app.state.security
        user = request.user
        if user.has_password:
            return see_other(request, "/settings")
        form = PasswordForm.parse(
            data, policy=security.policy, email=user.email, app_name=request.app.state.settings.app_name
        )
        if form.errors:
            return render(
                request,
                "auth/choose_password.html",
                fragment="auth/_choose_password_form.html",
                form=form,
                status=422,
                headers=NO_STORE,
            )
        if await set_first_password(db_session, request, form.password):
            flash(request, "Password saved. You are all set.", "success")
        return see_other(request, LANDING_PATH)
