"""`/admin/users`: find an account, look at it, and act on it (lock, disable, delete, sessions, factors).

The rules behind each action are the core's (`app.auth.core.account_state`); this controller
reads the form, calls one flow, and says what happened. Every write needs a fresh sudo window.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from app.admin.user_detail import load_user_detail
from app.admin.user_search import FILTERS, SORTS, UserQuery, search_users
from app.auth.core import account_deletion, account_state
from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.pending import new_pending
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.core.recovery import request_reset
from app.auth.core.registration import send_confirmation
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("AdminUsersController",)


class AdminUsersController(Controller):
    """The users list, a user's page, and the actions on it."""

    path = "/admin/users"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_users")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Search as you type (htmx swaps the results; without JS the form reloads the page)."""
        query = UserQuery.parse(request.query_params)
        rows, cursor = await search_users(db_session, query)
        return render(
            request,
            "admin/users.html",
            fragment="admin/_user_results.html",
            headers=NO_STORE,
            admin_section="users",
            query=query,
            users=rows,
            next_page=query.query_string(after=cursor) if cursor else None,
            filters=FILTERS,
            sorts=SORTS,
        )

    @get("/{user_id:uuid}", name="admin_user")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Template:
        """Profile, organizations, sessions, factors, providers and recent events of one account."""
        detail = await load_user_detail(db_session, request, user_id)
        if detail is None:
            raise NotFoundException()
        return render(request, "admin/user.html", headers=NO_STORE, admin_section="users", detail=detail)

    @post("/{user_id:uuid}/lock", name="admin_user_lock", guards=[requires_sudo])
    async def lock(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """No sign-in works until unlocked; open sessions end."""
        await account_state.lock_sign_in(db_session, request, user_id, data.get("reason", ""))
        return _done(request, user_id, "Sign-in is locked and every session was ended.")

    @post("/{user_id:uuid}/unlock", name="admin_user_unlock", guards=[requires_sudo])
    async def unlock(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Response[Any]:
        """Let the account sign in again."""
        await account_state.unlock_sign_in(db_session, request, user_id)
        return _done(request, user_id, "Sign-in is unlocked.")

    @post("/{user_id:uuid}/disable", name="admin_user_disable", guards=[requires_sudo])
    async def disable(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Turn the account off: sessions, remember-me and trusted browsers end."""
        await account_state.disable_account(db_session, request, user_id, data.get("reason", ""))
        return _done(request, user_id, "The account is disabled.")

    @post("/{user_id:uuid}/enable", name="admin_user_enable", guards=[requires_sudo])
    async def enable(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Response[Any]:
        """Turn the account back on."""
        await account_state.enable_account(db_session, request, user_id)
        return _done(request, user_id, "The account is enabled.")

    @post("/{user_id:uuid}/delete", name="admin_user_delete", guards=[requires_sudo])
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Delete softly: disabled now, purged after the grace period unless restored before."""
        purge_after = await account_deletion.admin_delete_account(
            db_session, request, user_id, data.get("reason", "")
        )
        return _done(
            request, user_id, f"The account is deleted; it will be purged on {purge_after:%d %B %Y}."
        )

    @post("/{user_id:uuid}/restore", name="admin_user_restore", guards=[requires_sudo])
    async def restore(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Cancel a deletion before the purge; the owner signs in again as before."""
        await account_deletion.admin_restore_account(db_session, request, user_id, data.get("reason", ""))
        return _done(request, user_id, "The account is restored and will not be purged.")

    @post("/{user_id:uuid}/two-factor/reset", name="admin_user_reset_two_factor", guards=[requires_sudo])
    async def reset_two_factor(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Remove the authenticator app and backup codes; the owner is mailed."""
        await account_state.reset_second_factor(db_session, request, user_id, data.get("reason", ""))
        return _done(request, user_id, "Two-step verification was reset and the owner was told by mail.")

    @post(
        "/{user_id:uuid}/sessions/{session_id:uuid}/revoke",
        name="admin_user_session_revoke",
        guards=[requires_sudo],
    )
    async def revoke_session(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        user_id: FromPath[UUID],
        session_id: FromPath[UUID],
    ) -> Response[Any]:
        """Sign one browser out."""
        ended = await account_state.end_user_session(db_session, request, user_id, session_id)
        return _done(
            request, user_id, "That browser was signed out." if ended else "That session had already ended."
        )

    @post("/{user_id:uuid}/sessions/revoke-all", name="admin_user_sessions_revoke", guards=[requires_sudo])
    async def revoke_sessions(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Response[Any]:
        """Sign every browser out, remembered ones included."""
        await account_state.end_user_sessions(db_session, request, user_id)
        return _done(request, user_id, "Every browser was signed out.")

    @post("/{user_id:uuid}/password-reset", name="admin_user_password_reset", guards=[requires_sudo])
    async def send_reset(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Response[Any]:
        """Mail the owner a reset link (an administrator never sets or sees a password) [74]."""
        user = await _user(db_session, user_id)
        await request_reset(db_session, request, user.email)
        await audit(
            db_session, request, "admin.user.password_reset_sent", actor_id=request.user.id, user_id=user.id
        )
        return _done(
            request, user_id, "A password reset link is on its way to the owner (if the account is active)."
        )

    @post(
        "/{user_id:uuid}/resend-confirmation", name="admin_user_resend_confirmation", guards=[requires_sudo]
    )
    async def resend_confirmation(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID]
    ) -> Response[Any]:
        """Mail a new confirmation link to an unconfirmed address."""
        user = await _user(db_session, user_id)
        if user.confirmed_at is not None:
            return _done(request, user_id, "That address is already confirmed.", "info")
        await send_confirmation(
            db_session, request, user, user.email, new_pending(user.email), None, resent=True
        )
        await audit(
            db_session, request, "admin.user.confirmation_resent", actor_id=request.user.id, user_id=user.id
        )
        return _done(request, user_id, "A new confirmation link is on its way.")


async def _user(db: DBSession, user_id: UUID) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFoundException()
    return user


def _done(request: Request[Any, Any, Any], user_id: UUID, text: str, level: Any = "success") -> Response[Any]:
    flash(request, text, level)
    return see_other(request, f"/admin/users/{user_id}")
