"""The members page: who is in the organization, their roles, invitations; change, remove, leave.

Every change goes through the core (`change_role`, `remove_member`, `leave_org`, `invite`,
`revoke_invitation`), which holds the rules; a refusal arrives as `OrgRuleError` and is shown by
`app.orgs.errors`. Guards state who may even try; the core checks again with the current role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.invitations import invite, pending_invitations, revoke_invitation
from app.auth.core.landing import NO_STORE
from app.auth.core.models import OrgInvitation
from app.auth.core.orgs import (
    OWNER_ROLE_ID,
    OrgContext,
    OrgRuleError,
    change_role,
    leave_org,
    may_grant,
    remove_member,
    roles_for,
)
from app.auth.core.tenancy import org_of, requires_org_member, requires_org_permission
from app.auth.core.toolkit import security_of
from app.auth.routes.common import FormData
from app.db import DBSession
from app.orgs import events
from app.orgs.forms import InviteForm, text, uuid_or_none
from app.orgs.invitations import mail_invitation
from app.orgs.services import members_of
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("MembersController",)


class MembersController(Controller):
    """`/o/<slug>/members` and `/o/<slug>/invitations/...`."""

    path = "/o/{org_slug:str}"
    include_in_schema = False

    @get("/members", name="org_members", guards=[requires_org_member])
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Members with their roles (and, for those who manage them, two-step status and invitations)."""
        return await _members_page(request, db_session, InviteForm())

    @post(
        "/members/{membership_id:uuid}/role",
        name="org_member_role",
        guards=[requires_org_permission("roles:assign")],
    )
    async def change_member_role(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        membership_id: FromPath[UUID],
        data: FormData,
    ) -> Response[Any]:
        """Give a member another role."""
        org = org_of(request)
        role_id = uuid_or_none(text(data, "role_id"))
        if role_id is None:
            raise OrgRuleError("Choose a role.", status=422)
        member = await change_role(db_session, org, membership_id, role_id)
        await audit(
            db_session,
            request,
            "org.member.role_changed",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="user",
            target_id=str(member.user_id),
            role_id=str(role_id),
        )
        role_key = next((r.key for r in await roles_for(db_session, org.org_id) if r.id == role_id), "")
        await events.announce_member(
            db_session,
            request.app.state.settings,
            org.org_id,
            "member.role_changed",
            member.user_id,
            _now(request),
            role=role_key,
        )
        flash(request, "Role changed.", "success")
        return see_other(request, f"/o/{org.slug}/members")

    @post(
        "/members/{membership_id:uuid}/remove",
        name="org_member_remove",
        guards=[requires_org_permission("members:remove")],
    )
    async def remove(
        self, request: Request[Any, Any, Any], db_session: DBSession, membership_id: FromPath[UUID]
    ) -> Response[Any]:
        """Remove a member: their next request in this organization is refused."""
        org = org_of(request)
        member = await remove_member(db_session, security_of(request), org, membership_id)
        await audit(
            db_session,
            request,
            "org.member.removed",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="user",
            target_id=str(member.user_id),
        )
        await events.announce_member(
            db_session,
            request.app.state.settings,
            org.org_id,
            "member.left",
            member.user_id,
            _now(request),
            reason="removed",
        )
        flash(request, "Member removed.", "success")
        return see_other(request, f"/o/{org.slug}/members")

    @post("/members/leave", name="org_leave", guards=[requires_org_member])
    async def leave(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Leave the organization (the last owner cannot)."""
        org = org_of(request)
        await leave_org(db_session, security_of(request), org)
        await audit(db_session, request, "org.member.left", actor_id=org.user_id, org_id=org.org_id)
        await events.announce_member(
            db_session,
            request.app.state.settings,
            org.org_id,
            "member.left",
            org.user_id,
            _now(request),
            reason="left",
        )
        flash(request, f"You left {org.name}.", "success")
        return see_other(request, "/dashboard")

    @post(
        "/members/{membership_id:uuid}/transfer",
        name="org_transfer",
        guards=[requires_org_permission("org:delete"), requires_sudo],
    )
    async def transfer(
        self, request: Request[Any, Any, Any], db_session: DBSession, membership_id: FromPath[UUID]
    ) -> Response[Any]:
        """Offer ownership to a member: they become an owner when they accept the mailed invitation."""
        org = org_of(request)
        member = next(
            (m for m in await members_of(db_session, org.org_id) if m.membership_id == membership_id), None
        )
        if member is None:
            raise NotFoundException()
        if member.is_owner:
            raise OrgRuleError("That member is an owner already.", status=409)
        invitation, token = await invite(db_session, security_of(request), org, member.email, OWNER_ROLE_ID)
        mail_invitation(db_session, request, org, invitation, token, "Owner")
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.created", invitation, _now(request)
        )
        await audit(
            db_session,
            request,
            "org.ownership.offered",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="user",
            target_id=str(member.user_id),
        )
        flash(
            request,
            "Ownership offered. They become an owner when they accept the mailed invitation.",
            "success",
        )
        return see_other(request, f"/o/{org.slug}/members")

    @post("/invitations", name="org_invite", guards=[requires_org_permission("members:invite")])
    async def invite_member(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Invite someone by address (the same answer whether or not they have an account)."""
        org = org_of(request)
        form = InviteForm.parse(data)
        if form.errors or form.role_id is None:
            return await _members_page(request, db_session, form, status=422)
        invitation, token = await invite(db_session, security_of(request), org, form.email, form.role_id)
        role_name = next(
            r.name for r in await roles_for(db_session, org.org_id) if r.id == invitation.role_id
        )
        mail_invitation(db_session, request, org, invitation, token, role_name)
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.created", invitation, _now(request)
        )
        await audit(
            db_session,
            request,
            "org.invitation.sent",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="invitation",
            target_id=str(invitation.id),
        )
        flash(request, f"Invitation sent to {form.email}.", "success")
        return see_other(request, f"/o/{org.slug}/members")

    @post(
        "/invitations/{invitation_id:uuid}/resend",
        name="org_invitation_resend",
        guards=[requires_org_permission("members:invite")],
    )
    async def resend(
        self, request: Request[Any, Any, Any], db_session: DBSession, invitation_id: FromPath[UUID]
    ) -> Response[Any]:
        """Send a pending invitation again, with a new link (the old one stops working)."""
        org = org_of(request)
        security = security_of(request)
        pending = {i.id: (i, name) for i, name in await pending_invitations(db_session, security, org.org_id)}
        if invitation_id not in pending:
            raise NotFoundException()
        old, role_name = pending[invitation_id]
        invitation, token = await invite(db_session, security, org, old.email, old.role_id)
        mail_invitation(db_session, request, org, invitation, token, role_name)
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.revoked", old, _now(request)
        )
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.created", invitation, _now(request)
        )
        await audit(
            db_session,
            request,
            "org.invitation.resent",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="invitation",
            target_id=str(invitation.id),
        )
        flash(request, f"Invitation sent again to {old.email}.", "success")
        return see_other(request, f"/o/{org.slug}/members")

    @post(
        "/invitations/{invitation_id:uuid}/revoke",
        name="org_invitation_revoke",
        guards=[requires_org_permission("members:invite")],
    )
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: DBSession, invitation_id: FromPath[UUID]
    ) -> Response[Any]:
        """Revoke a pending invitation: its link stops working."""
        org = org_of(request)
        if not await revoke_invitation(db_session, security_of(request), org, invitation_id):
            raise NotFoundException()
        revoked = await db_session.get_one(OrgInvitation, invitation_id)
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.revoked", revoked, _now(request)
        )
        await audit(
            db_session,
            request,
            "org.invitation.revoked",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="invitation",
            target_id=str(invitation_id),
        )
        flash(request, "Invitation revoked.", "success")
        return see_other(request, f"/o/{org.slug}/members")


def _now(request: Request[Any, Any, Any]) -> datetime:
    return security_of(request).clock.now()


async def _members_page(
    request: Request[Any, Any, Any], db: DBSession, form: InviteForm, status: int = 200
) -> Template:
    org: OrgContext = org_of(request)
    members = await members_of(db, org.org_id)
    manages = org.can("members:invite") or org.can("roles:assign") or org.can("members:remove")
    roles = await roles_for(db, org.org_id) if manages else []
    grantable = [role for role in roles if may_grant(org, role)]
    invitations = (
        await pending_invitations(db, security_of(request), org.org_id) if org.can("members:invite") else []
    )
    return render(
        request,
        "orgs/members.html",
        org=org,
        org_section="members",
        members=members,
        grantable=grantable,
        manages=manages,
        invitations=invitations,
        form=form,
        status=status,
        headers=NO_STORE,
    )
