"""Settings → Email address: ask for a change (under sudo), cancel it, confirm it from the mailed link."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.email_change import (
    cancel_change,
    confirm_change,
    find_change,
    pending_change,
    request_change,
)
from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.identity import canonical_email
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.pacing import paced
from app.auth.core.registration import AddressNotAllowedError
from app.auth.core.remember_store import clear_remember_cookie
from app.auth.core.toolkit import Security
from app.auth.forms import NewAddressForm
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

CONFIRM_PATH = "/settings/email/confirm"  # keep AccountAdapter.PAGES["confirm_email_change"] in step


class EmailChangeController(Controller):
    """Moving an account to a new address: it changes only once the new mailbox confirms."""

    path = "/settings/email"
    include_in_schema = False

    @get("/", name="settings_email", guards=[requires_user, refuses_impersonation])
    async def page(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The current address, any change waiting for confirmation, and the form for a new one."""
        return await self._page(request, db_session, NewAddressForm())

    @post("/", name="settings_email_submit", guards=[paced, requires_sudo, limit_posts_per_ip])
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Validate; then the same answer whether or not the new address belongs to another account."""
        user = request.user
        form = NewAddressForm.parse(data, current_canonical=canonical_email(user.email))
        if not form.errors:
            try:
                await request_change(db_session, request, user, form.email)
            except AddressNotAllowedError:
                form.errors["email"] = "This address cannot be used for an account here."
        if form.errors:
            return await self._page(
                request, db_session, form, fragment="settings/_email_form.html", status=422
            )
        flash(
            request,
            f"We sent a confirmation link to {form.email}. Your address changes when you open it.",
            "success",
        )
        return see_other(request, "/settings/email")

    @post("/cancel", name="settings_email_cancel", guards=[requires_user, refuses_impersonation])
    async def cancel(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Forget the pending change: its link stops working."""
        if await cancel_change(db_session, request, request.user):
            flash(request, "The change was cancelled. The link we sent no longer works.", "success")
        else:
            flash(request, "There was no change waiting for confirmation.", "info")
        return see_other(request, "/settings/email")

    @get("/confirm", name="settings_email_confirm")
    async def confirm_page(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str | None] = None
    ) -> Response[Any]:
        """Landing from the mail: move the token out of the URL, then offer a button (GET never spends it)."""
        if token:
            return land_from_mail(request, CONFIRM_PATH, token)
        change = await find_change(db_session, request, kept_link_token(request))
        return render(request, "auth/confirm_email_change.html", token_row=change, headers=TOKEN_PAGE_HEADERS)

    @post("/confirm", name="settings_email_confirm_submit", guards=[limit_posts_per_ip])
    async def confirm_submit(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Spend the link and move the account; signed in or not, the link proves the new mailbox."""
        security: Security = request.app.state.security
        changed = await confirm_change(db_session, request, kept_link_token(request))
        if changed is None:
            response: Response[Any] = render(
                request,
                "auth/confirm_email_change.html",
                token_row=None,
                status=410,
                headers=TOKEN_PAGE_HEADERS,
            )
        else:
            flash(request, f"Your address is now {changed.user.email}.", "success")
            response = see_other(request, "/settings/profile" if changed.kept_this_session else "/login")
            if changed.kept_this_session:
                # Its remember-me token was revoked with all the others; drop the dead cookie too.
                clear_remember_cookie(response, security)
        forget_link_token(response, security)
        return response

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: DBSession,
        form: NewAddressForm,
        *,
        fragment: str | None = None,
        status: int = 200,
    ) -> Template:
        security: Security = request.app.state.security
        return render(
            request,
            "settings/email.html",
            fragment=fragment,
            form=form,
            pending=await pending_change(db, security, request.user),
            section="email",
            status=status,
            headers=NO_STORE,
        )
