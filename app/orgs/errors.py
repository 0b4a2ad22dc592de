"""What the host shows when an organization guard or rule turns a request away.

- An old address (`OrgMoved`): the same page at the new one (GET only, members only: the guard
  checked).
- The organization's security policy (`OrgPolicyUnmet`): a person without a second factor is
  sent to set one up; a session the organization does not accept gets a page that says why and
  offers to sign in again.
- A rule of the core (`OrgRuleError`, e.g. "an organization needs at least one owner"): its
  reason, with the rule's status (403, 404, 409, 422, 429), as a page or, for htmx, in the
  page's alert region. The request's transaction is rolled back (the status is not 2xx/3xx).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from app.auth.core.orgs import OrgRuleError
from app.auth.core.tenancy import OrgMoved, OrgPolicyUnmet, PolicyReason
from app.web.flash import flash
from app.web.htmx import is_htmx, see_other

__all__ = ("EXCEPTION_HANDLERS", "org_section_path")

TWO_FACTOR_SETUP = "/settings/two-factor"
HX_ALERT = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", "Vary": "HX-Request"}
"""An htmx answer shown in the page's alert region, whatever element asked."""
POLICY_TEXT = {
    PolicyReason.SIGN_IN_METHOD: "does not accept the way this session signed in (for example an emailed link)",
    PolicyReason.SESSION_TOO_OLD: "asks its members to sign in again after a while, and this session is older than that",
}


def org_section_path(path: str) -> str:
    """`/o/acme/members/<id>/role` → `/o/acme/members`: the page an org form was sent from."""
    parts = path.split("/")
    return "/".join(parts[:4]) if len(parts) > 3 and parts[3] else "/".join(parts[:3]) + "/"


def org_moved_handler(request: Request[Any, Any, Any], exc: OrgMoved) -> Response[Any]:
    """The same page at the organization's new address."""
    old = str(request.path_params.get("org_slug", ""))
    rest = request.url.path.removeprefix(f"/o/{old}")
    query = f"?{request.url.query}" if request.url.query else ""
    return Redirect(f"/o/{exc.slug}{rest}{query}", status_code=302)


def org_policy_handler(request: Request[Any, Any, Any], exc: OrgPolicyUnmet) -> Response[Any]:
    """Set up a second factor first, or sign in again in a way the organization accepts."""
    if exc.reason is PolicyReason.NEEDS_SECOND_FACTOR:
        flash(
            request,
            f"{exc.org_name} requires two-step verification. Set it up to continue to the organization.",
            "warning",
        )
        return see_other(request, TWO_FACTOR_SETUP)
    if is_htmx(request):  # a fragment would be swapped into the page: say it in the alert region
        reason = f"{exc.org_name} {POLICY_TEXT[exc.reason]}. Sign out and sign in again to continue."
        return Template(
            "orgs/_rule_error.html", context={"reason": reason}, status_code=403, headers=HX_ALERT
        )
    return Template(
        "orgs/policy_unmet.html",
        context={"org_name": exc.org_name, "why": POLICY_TEXT[exc.reason], "back": request.url.path},
        status_code=403,
    )


def org_rule_handler(request: Request[Any, Any, Any], exc: OrgRuleError) -> Response[Any]:
    """The rule's reason, where the person is looking."""
    if is_htmx(request):
        return Template(
            "orgs/_rule_error.html", context={"reason": exc.reason}, status_code=exc.status, headers=HX_ALERT
        )
    return Template(
        "orgs/rule_error.html",
        context={
            "org": request.scope.get("org"),
            "reason": exc.reason,
            "back": org_section_path(request.url.path),
        },
        status_code=exc.status,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    OrgMoved: org_moved_handler,
    OrgPolicyUnmet: org_policy_handler,
    OrgRuleError: org_rule_handler,
}
"""Registered by `create_app`."""
