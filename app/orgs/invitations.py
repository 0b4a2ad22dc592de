"""Invitations from the invitee's side: the mailed link, the page it opens, joining.

The rules (256-bit single-use token, 7 days, only the invited confirmed address, the inviter's
rights checked again now) are the core's (`app.auth.core.invitations`). Here:

- The mailed link's first hop moves the token out of the URL into the `invitation` cookie (its
  own, so that confirming a new account's address, which uses the mailed-link cookie, does not
  drop it) and redirects to `/invitations/accept` [38].
- That page says what the invitation is and what to do: sign in or create an account with the
  invited address (the landing page brings a newly confirmed account back here), join, or, signed
  in as someone else, sign in with the invited address instead.
- Every dead token (unknown, used, revoked, expired) gets the same answer, so the page tells
  nothing about invitations one did not receive.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from app.auth.core.audit_log import audit
from app.auth.core.cookies import cookie_name, expire_cookie, set_cookie
from app.auth.core.guards import requires_user
from app.auth.core.invitations import Invitation, accept_invitation, find_invitation
from app.auth.core.landing import TOKEN_PAGE_HEADERS
from app.auth.core.models import OrgInvitation
from app.auth.core.orgs import OrgContext
from app.auth.core.toolkit import Security, security_of
from app.auth.models import User
from app.db import DBSession
from app.orgs import events
from app.web.flash import flash
from app.web.htmx import see_other

__all__ = (
    "ACCEPT_PATH",
    "INVITATION_COOKIE",
    "InvitationController",
    "mail_invitation",
    "waiting_invitation",
)

ACCEPT_PATH = "/invitations/accept"
INVITATION_COOKIE = "invitation"


def mail_invitation(
    db: DBSession,
    request: Request[Any, Any, Any],
    ctx: OrgContext,
    invitation: OrgInvitation,
    token: str,
    role_name: str,
    *,
    inviter: str | None = None,
) -> None:
    """Queue the invitation mail (it leaves only if the invitation commits).

    `inviter` is the name the mail gives; by default the signed-in person's (the API passes the
    token's user, or the organization for an organization token).
    """
    security = security_of(request)
    inviter = inviter or request.user.display_name or request.user.email
    security.adapter.send_mail(
        db,
        to=invitation.email,
        template="org_invitation",
        context={
            "org_name": ctx.name,
            "inviter": inviter,
            "role_name": role_name,
            "link": f"{security.base_url}{ACCEPT_PATH}?token={token}",
            "lifetime": security.policy.invitation_ttl,
        },
    )


class InvitationController(Controller):
    """The page a mailed invitation opens, and joining from it."""

    include_in_schema = False

    @get(ACCEPT_PATH, name="invitation_accept")
    async def page(
        self, request: Request[Any, Any, Any], db_session: DBSession, token: FromQuery[str | None] = None
    ) -> Response[Any]:
        """First hop: keep the token in a cookie. Then: what the invitation is, and what to do."""
        security = security_of(request)
        if token:
            response: Response[Any] = Redirect(ACCEPT_PATH, status_code=303, headers=TOKEN_PAGE_HEADERS)
            set_cookie(
                response,
                _cookie(security),
                token[:100],
                secure=security.secure_cookies,
                max_age=int(security.policy.invitation_ttl.total_seconds()),
            )
            return response
        invitation = await find_invitation(db_session, security, _kept_token(request))
        user = request.scope.get("user")
        matches = False
        if invitation is not None and user is not None:
            account = await db_session.get_one(User, user.id)
            matches = (
                account.email_canonical == invitation.email_canonical and account.confirmed_at is not None
            )
        response = _page(request, invitation, matches=matches, status=200 if invitation else 410)
        if invitation is None:
            expire_cookie(response, _cookie(security), secure=security.secure_cookies)
        return response

    @post(ACCEPT_PATH, name="invitation_accept_submit", guards=[requires_user])
    async def accept(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Join the organization (the core checks the address and the inviter's rights)."""
        security = security_of(request)
        token = _kept_token(request)
        invitation = await find_invitation(db_session, security, token)
        account = await db_session.get_one(User, request.user.id)
        outcome = await accept_invitation(db_session, security, token, account)
        if outcome.outcome in ("joined", "promoted") and invitation is not None:
            await audit(
                db_session,
                request,
                "org.member.joined" if outcome.outcome == "joined" else "org.member.became_owner",
                actor_id=account.id,
                org_id=invitation.org_id,
                invitation_id=str(invitation.id),
            )
            await _announce_acceptance(db_session, request, invitation, account.id, outcome.outcome)
            flash(request, f"Welcome to {invitation.org_name}.", "success")
            response = see_other(request, f"/o/{outcome.org_slug}/")
            expire_cookie(response, _cookie(security), secure=security.secure_cookies)
            return response
        status = {"wrong_account": 403, "inviter_lost_rights": 409}.get(outcome.outcome, 410)
        response = _page(request, invitation, matches=False, status=status, problem=outcome.outcome)
        if outcome.outcome == "gone":
            expire_cookie(response, _cookie(security), secure=security.secure_cookies)
        return response


async def _announce_acceptance(
    db: DBSession, request: Request[Any, Any, Any], invitation: Invitation, user_id: UUID, outcome: str
) -> None:
    """Webhooks: the invitation was accepted, and (unless it promoted a member) someone joined."""
    settings, now = request.app.state.settings, security_of(request).clock.now()
    await events.announce_invitation(db, settings, "invitation.accepted", invitation, now)
    if outcome == "joined":
        await events.announce_member(db, settings, invitation.org_id, "member.joined", user_id, now)
    else:
        await events.announce_member(
            db, settings, invitation.org_id, "member.role_changed", user_id, now, role="owner"
        )


async def waiting_invitation(request: Request[Any, Any, Any], db: DBSession) -> Invitation | None:
    """The live invitation this browser opened before it had an account, if any (for the
    registration page, which then suggests the invited address)."""
    token = _kept_token(request)
    return await find_invitation(db, security_of(request), token) if token else None


def _cookie(security: Security) -> str:
    return cookie_name(INVITATION_COOKIE, secure=security.secure_cookies)


def _kept_token(request: Request[Any, Any, Any]) -> str:
    return request.cookies.get(_cookie(security_of(request)), "")


def _page(
    request: Request[Any, Any, Any],
    invitation: Invitation | None,
    *,
    matches: bool,
    status: int,
    problem: str = "",
) -> Template:
    return Template(
        "orgs/invitation.html",
        context={
            "invitation": None if problem == "gone" else invitation,
            "matches": matches,
            "problem": problem,
        },
        status_code=status,
        headers=TOKEN_PAGE_HEADERS,
    )
