"""What the admin console answers when its guards or flows say no."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from app.auth.core.account_state import AccountActionError
from app.auth.core.impersonation import ImpersonationError
from app.auth.core.platform_admin import ImpersonationRefused, SecondFactorEnrolmentRequired
from app.auth.core.tenancy import OrgSuspended
from app.web.errors import error_response
from app.web.flash import flash
from app.web.htmx import is_htmx, see_other

__all__ = ("EXCEPTION_HANDLERS",)

REFUSALS = {
    "already_impersonating": "Stop the current impersonation first.",
    "no_permission": "Your administrator account may not impersonate. Ask for `admin grant --impersonate`.",
    "sudo_required": "Confirm it is you first.",
    "reason_required": "Type why you need to sign in as this person (at least a sentence).",
    "no_such_user": "There is no such account.",
    "self": "You cannot do that to your own account.",
    "target_is_admin": "Administrators cannot be impersonated or managed from the console.",
    "account_unavailable": "That account cannot be signed in to (locked, disabled or not confirmed).",
    "already_deleted": "That account is already deleted.",
    "not_deleted": "That account is not deleted.",
    "owns_shared_org": "They are the last owner of an organization others are in: ownership must move first.",
}


def _back_to_user(request: Request[Any, Any, Any], reason: str) -> Response[Any]:
    flash(request, REFUSALS.get(reason, "That is not possible."), "error")
    user_id = request.path_params.get("user_id")
    return see_other(request, f"/admin/users/{user_id}" if user_id else "/admin/users")


def account_action_refused(request: Request[Any, Any, Any], exc: AccountActionError) -> Response[Any]:
    """Say why, on the user's page."""
    return _back_to_user(request, exc.reason)


def impersonation_refused(request: Request[Any, Any, Any], exc: ImpersonationError) -> Response[Any]:
    """Say why, on the user's page (the refusal is in the audit log)."""
    return _back_to_user(request, exc.reason)


def enrol_second_factor(request: Request[Any, Any, Any], _: SecondFactorEnrolmentRequired) -> Response[Any]:
    """An administrator without two-step verification sets it up before the console opens [74]."""
    flash(
        request, "The admin console needs two-step verification on your account. Set it up first.", "warning"
    )
    return see_other(request, "/settings/two-factor")


def not_while_impersonating(request: Request[Any, Any, Any], _: ImpersonationRefused) -> Response[Any]:
    """403, with the reason and the way out (the banner's Stop button)."""
    if is_htmx(request):
        return error_response(request, 403)
    return Template(
        "admin/impersonation_refused.html",
        context={"status": 403, "title": "Not while impersonating"},
        status_code=403,
    )


def org_suspended(request: Request[Any, Any, Any], exc: OrgSuspended) -> Response[Any]:
    """A suspended organization's pages are closed."""
    return error_response(request, 403)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AccountActionError: account_action_refused,
    ImpersonationError: impersonation_refused,
    SecondFactorEnrolmentRequired: enrol_second_factor,
    ImpersonationRefused: not_while_impersonating,
    OrgSuspended: org_suspended,
}
"""Registered by `create_app`."""
