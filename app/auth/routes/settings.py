"""Account settings: profile and sessions (later issues add security, email and password pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import select

from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.password_change import change_password
from app.auth.core.session_store import (
    CurrentSession,
    end_other_sessions,
    end_session,
    list_sessions,
)
from app.auth.core.sessions import sudo_remaining
from app.auth.core.signin import InvalidCredentialsError, ThrottledError, verify_current_password
from app.auth.core.toolkit import Security
from app.auth.forms import PasswordChangeForm, ProfileForm
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other


class SettingsController(Controller):
    """The signed-in user's own settings."""

    path = "/settings"
    guards = [requires_user]
    include_in_schema = False

    @get("/", name="settings")
    async def index(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """The settings area opens on the profile."""
        return see_other(request, "/settings/profile")

    @get("/profile", name="settings_profile")
    async def profile(self, request: Request[Any, Any, Any]) -> Template:
        """Display name and address."""
        form = ProfileForm(display_name=request.user.display_name)
        return render(request, "settings/profile.html", form=form, section="profile", headers=NO_STORE)

    @post("/profile", name="settings_profile_submit")
    async def profile_submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Save the display name (the only field this form can change)."""
        form = ProfileForm.parse(data)
        if form.errors:
            return render(
                request,
                "settings/profile.html",
                fragment="settings/_profile_form.html",
                form=form,
                section="profile",
                status=422,
                headers=NO_STORE,
            )
        user = await db_session.get_one(User, request.user.id)
        user.display_name = form.display_name
        await audit(db_session, request, "account.profile.updated", user_id=user.id)
        flash(request, "Profile saved.", "success")
        return see_other(request, "/settings/profile")

    @get("/sessions", name="settings_sessions", guards=[refuses_impersonation])
    async def sessions(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Every browser signed in to this account, this one marked."""
        security: Security = request.app.state.security
        current: CurrentSession = request.auth
        rows = await list_sessions(db_session, request.user.id, security)
        remaining = sudo_remaining(current.authenticated_at, security.clock.now(), security.policy)
        return render(
            request,
            "settings/sessions.html",
            sessions=rows,
            current_id=current.id,
            section="sessions",
            sudo_minutes=int(remaining.total_seconds() // 60),
            headers=NO_STORE,
        )

    @post("/sessions/{session_id:uuid}/revoke", name="settings_session_revoke", guards=[requires_sudo])
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: DBSession, session_id: FromPath[UUID]
    ) -> Response[Any]:
        """Sign out one other browser (only this user's sessions can be found here)."""
        current: CurrentSession = request.auth
        if session_id == current.id:
            flash(request, "To sign out this browser, use “Sign out” at the top of the page.", "info")
            return see_other(request, "/settings/sessions")
        if not await end_session(db_session, session_id, user_id=request.user.id):
            raise NotFoundException()
        await audit(
            db_session, request, "auth.session.revoked", user_id=request.user.id, revoked_id=str(session_id)
        )
        flash(request, "That session has been signed out.", "success")
        return see_other(request, "/settings/sessions")

    @post("/sessions/revoke-others", name="settings_sessions_revoke_others", guards=[requires_sudo])
    async def revoke_others(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Sign out every browser but this one."""
        current: CurrentSession = request.auth
        count = await end_other_sessions(
            db_session, request.user.id, keep=current.id, forget_trusted_browsers=True
        )
        await audit(db_session, request, "auth.session.revoked_others", user_id=request.user.id, count=count)
        flash(request, "Signed out everywhere else." if count else "There were no other sessions.", "success")
        return see_other(request, "/settings/sessions")

    @get("/password", name="settings_password", guards=[refuses_impersonation])
    async def password(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Change the password (accounts without one choose their first one elsewhere)."""
        if not request.user.has_password:
            return see_other(request, "/welcome/password")
        return render(
            request,
            "settings/password.html",
            form=PasswordChangeForm(),
            section="password",
            password_changed_at=await _password_changed_at(db_session, request),
            headers=NO_STORE,
        )

    @post("/password", name="settings_password_submit", guards=[refuses_impersonation, limit_posts_per_ip])
    async def password_submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Needs the current password; signs out other devices unless asked not to."""
        security: Security = request.app.state.security
        user = request.user
        form = await sync_to_thread(
            PasswordChangeForm.parse,
            data,
            policy=security.policy,
            email=user.email,
            app_name=request.app.state.settings.app_name,
        )
        proof = None
        if (
            "current_password" not in form.errors
        ):  # checked even when the new one is refused: both errors show
            try:
                proof = await verify_current_password(
                    db_session, request, form.current, failure_action="account.password_change.failed"
                )
            except ThrottledError as exc:
                raise TooManyRequestsException(headers={"Retry-After": str(exc.retry_after)}) from exc
            except InvalidCredentialsError:
                form.errors["current_password"] = "That is not your current password."  # noqa: S105
        if form.errors or proof is None:
            return render(
                request,
                "settings/password.html",
                fragment="settings/_password_form.html",
                form=form,
                section="password",
                password_changed_at=await _password_changed_at(db_session, request),
                status=422,
                headers=NO_STORE,
            )
        flash(request, "Password changed.", "success")  # before see_other(), which carries it
        response = see_other(request, "/settings/password")
        await change_password(
            db_session, request, response, proof, form.new, sign_out_others=form.sign_out_others
        )
        return response


async def _password_changed_at(db: DBSession, request: Request[Any, Any, Any]) -> datetime | None:
    """When the password last changed (shown on its page only, so not loaded with every request)."""
    return await db.scalar(select(User.password_changed_at).where(User.id == request.user.id))
