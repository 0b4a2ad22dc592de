"""Starting and stopping an impersonation (the rules are the core's: `app.auth.core.impersonation`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.impersonation import start_impersonation, stop_impersonation
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.core.session_store import clear_session_cookie, set_session_cookie
from app.auth.core.toolkit import security_of
from app.auth.routes.common import FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import see_other

__all__ = ("ImpersonationController", "StopImpersonationController")


class ImpersonationController(Controller):
    """`POST /admin/users/<id>/impersonate`: sign this browser in as the user, with a reason."""

    path = "/admin/users"
    guards = [requires_platform_admin]
    include_in_schema = False

    @post("/{user_id:uuid}/impersonate", name="admin_impersonate", guards=[requires_sudo])
    async def start(
        self, request: Request[Any, Any, Any], db_session: DBSession, user_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Start; the browser lands on the home page as the user, under the banner."""
        new = await start_impersonation(db_session, request, user_id, data.get("reason", ""))
        response = see_other(request, "/")
        set_session_cookie(response, new.token, security_of(request))
        return response


class StopImpersonationController(Controller):
    """`POST /impersonation/stop`: outside `/admin`, since the console is closed while impersonating."""

    path = "/impersonation"
    guards = [requires_user]
    include_in_schema = False

    @post("/stop", name="impersonation_stop")
    async def stop(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Back to the administrator's own session (under a new token), or signed out if it is gone."""
        if not request.auth.is_impersonation:
            raise NotFoundException()
        target = request.user.id
        restored = await stop_impersonation(db_session, request)
        security = security_of(request)
        if restored is None:
            response = see_other(request, "/login")
            clear_session_cookie(response, security)
            return response
        flash(request, "You are yourself again.", "success")
        response = see_other(request, f"/admin/users/{target}")
        set_session_cookie(response, restored.token, security)
        return response
