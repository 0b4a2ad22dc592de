"""Your data: export it, or delete the account; and the way back during the grace period.

The flows are the core's (`app.auth.core.data_export`, `app.auth.core.account_deletion`); these
pages put them in words. The export link and the restore offer are token pages (no referrer, no
caching); the restore offer is reachable only with the pre-session a full sign-in left behind.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.core.account_deletion import (
    DeletionError,
    cancel_link_user,
    request_deletion,
    restore_by_owner,
    sole_owned_orgs,
    spend_cancel_link,
)
from app.auth.core.data_export import ExportError, download_export, live_export, request_export
from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.impersonation import refuses_impersonation
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.second_factor import load_pending
from app.auth.core.signin import sign_out
from app.auth.core.toolkit import security_of
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.jobs import defer
from app.web.flash import carry_flashes, flash
from app.web.htmx import render, see_other

__all__ = ("AccountController", "RestoreController")

TOKEN_PAGE = {**NO_STORE, "Referrer-Policy": "no-referrer"}

DELETION_ERRORS = {
    "confirm_mismatch": "Type your email address exactly as shown to confirm.",
    "org_choice_required": "Choose a new owner, or deletion, for each organization listed.",
}


def _org_choices(data: FormData) -> dict[UUID, UUID | None]:
    """`org-<id>` fields: a membership id (the new owner) or `delete`; anything else is no choice."""
    choices: dict[UUID, UUID | None] = {}
    for key, value in data.items():
        if not key.startswith("org-"):
            continue
        try:
            org_id = UUID(key.removeprefix("org-"))
            choices[org_id] = None if value == "delete" else UUID(str(value))
        except ValueError:
            continue
    return choices


class AccountController(Controller):
    """`/settings/account`: export my data, delete my account."""

    path = "/settings/account"
    guards = [requires_user, refuses_impersonation]
    include_in_schema = False

    @get("/", name="settings_account")
    async def page(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The export and the deletion, with the organizations that need a new owner first."""
        return await self._page(request, db_session)

    async def _page(
        self, request: Request[Any, Any, Any], db: DBSession, error: str | None = None, status: int = 200
    ) -> Template:
        security = security_of(request)
        return render(
            request,
            "settings/account.html",
            section="account",
            export=await live_export(db, security, request.user.id),
            orgs=await sole_owned_orgs(db, security, request.user.id),
            error=error,
            status=status,
            headers=NO_STORE,
        )

    @post("/export", name="settings_account_export", guards=[limit_posts_per_ip])
    async def export(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Ask for an archive; a job builds it and mails the link."""
        try:
            export = await request_export(db_session, request)
        except ExportError:
            flash(request, "An export is already on its way: look for the mail with its link.", "info")
            return see_other(request, "/settings/account")
        defer(db_session, "build_data_export", export_id=str(export.id))
        flash(request, "We are preparing your data. You will get an email with a download link.", "success")
        return see_other(request, "/settings/account")

    @get("/export/download", name="data_export_download")
    async def download_page(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Template:
        """The mailed link lands here; the download itself is a POST, so a link preview spends nothing."""
        return render(
            request,
            "settings/export_download.html",
            section="account",
            token=token,
            gone=False,
            headers=TOKEN_PAGE,
        )

    @post("/export/download", name="data_export_download_submit")
    async def download(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """The archive, once; afterwards (or after the link expired) a page that says so."""
        archive = await download_export(db_session, request, str(data.get("token", "")))
        if archive is None:
            return render(
                request, "settings/export_download.html", section="account", token="", gone=True,
                status=410, headers=TOKEN_PAGE,
            )  # fmt: skip
        body = json.dumps(archive, indent=2, ensure_ascii=False)
        return Response(
            body,
            status_code=200,
            media_type="application/json",
            headers={
                **TOKEN_PAGE,
                "Content-Disposition": 'attachment; filename="gatehouse-data-export.json"',
            },
        )

    @post("/delete", name="settings_account_delete", guards=[requires_sudo, limit_posts_per_ip])
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Delete the account: signed out everywhere now, purged after the grace period."""
        try:
            await request_deletion(
                db_session,
                request,
                confirm_email=str(data.get("confirm_email", "")),
                org_choices=_org_choices(data),
            )
        except DeletionError as exc:
            return await self._page(request, db_session, DELETION_ERRORS.get(exc.reason, exc.reason), 422)
        response = see_other(request, "/login?deleted=1")
        await sign_out(db_session, request, response)
        return response


class RestoreController(Controller):
    """The way back: the offer after a full sign-in, and the link in the deletion mail."""

    include_in_schema = False

    @get("/login/restore", name="restore_account")
    async def offer(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Offer to restore the account this browser just signed in to (both factors passed)."""
        pending = await load_pending(db_session, request)
        if pending is None or pending.restore_step != "ready":
            return see_other(request, "/login")
        user = await db_session.get_one(security_of(request).users, pending.user_id)
        return render(request, "auth/restore_account.html", purge_after=user.purge_after, headers=TOKEN_PAGE)

    @post("/login/restore", name="restore_account_submit", guards=[limit_posts_per_ip])
    async def restore(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Accept: the deletion is cancelled and the session starts."""
        pending = await load_pending(db_session, request, lock=True)
        security = security_of(request)
        response = see_other(request, security.adapter.page_path("after_login"))
        user = None if pending is None else await restore_by_owner(db_session, request, response, pending)
        if user is None:
            flash(request, "Your sign-in timed out. Please sign in again.", "warning")
            return see_other(request, "/login")
        flash(request, "Welcome back: your account is restored and will not be deleted.", "success")
        carry_flashes(request, response)
        return response

    @get("/account/deletion/cancel", name="cancel_deletion")
    async def cancel_page(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str] = ""
    ) -> Template:
        """The link in the deletion mail: explains that signing in keeps the account."""
        user = await cancel_link_user(db_session, security_of(request), token) if token else None
        return render(
            request, "auth/cancel_deletion.html", token=token if user else "",
            purge_after=user.purge_after if user else None, headers=TOKEN_PAGE,
        )  # fmt: skip

    @post("/account/deletion/cancel", name="cancel_deletion_submit", guards=[limit_posts_per_ip])
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Use the link (once) and go to sign in, where the restore is offered."""
        user = await spend_cancel_link(db_session, security_of(request), str(data.get("token", "")))
        if user is None:
            flash(
                request,
                "That link has already been used or has expired. Sign in to keep your account.",
                "info",
            )
        else:
            flash(request, "Sign in with your password to keep your account.", "info")
        return see_other(request, "/login")
