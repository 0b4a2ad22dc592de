"""`/admin/orgs`: find an organization, see it, and act on it: suspend or reinstate, delete or
restore, hand it to a new owner, revoke its API tokens (`app.admin.tokens`).

The rules of each action are the core's (`app.auth.core.orgs`); every write needs sudo, and every
event names the administrator (with the reason for the destructive ones).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import func, select

from app.admin.tokens import org_tokens
from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.models import Membership, Organization, OrgDomain, OrgInvitation, OrgRole
from app.auth.core.orgs import mark_org_deleted, restore_org, transfer_ownership
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("STATES", "AdminOrgsController")

PAGE_SIZE = 25
STATES = {"": "Any state", "active": "Active", "suspended": "Suspended", "deleted": "Deleted"}
"""The state filter of the search: what the select offers."""


def _state_filter(state: str) -> Any:
    if state == "active":
        return Organization.suspended_at.is_(None) & Organization.deleted_at.is_(None)
    if state == "suspended":
        return Organization.suspended_at.is_not(None) & Organization.deleted_at.is_(None)
    if state == "deleted":
        return Organization.deleted_at.is_not(None)
    return None


def _reason(request: Request[Any, Any, Any], data: FormData, what: str) -> str | None:
    """The typed reason, tidied; None (with a message) when it is too short to mean anything."""
    reason = " ".join(data.get("reason", "").split())[:500]
    if len(reason) < 3:
        flash(request, f"Give a reason for {what}.", "error")
        return None
    return reason


class AdminOrgsController(Controller):
    """Organizations, platform-wide."""

    path = "/admin/orgs"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_orgs")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Search by name or slug, optionally by state; keyset pages by slug."""
        q = " ".join(str(request.query_params.get("q", "")).split())[:100]
        state = str(request.query_params.get("state", ""))
        state = state if state in STATES else ""
        after = str(request.query_params.get("after", ""))[:200]
        members = (
            select(func.count(Membership.id)).where(Membership.org_id == Organization.id).scalar_subquery()
        )
        statement = select(
            Organization.id, Organization.name, Organization.slug, Organization.personal,
            Organization.suspended_at, Organization.deleted_at, Organization.created_at,
            members.label("members"),
        ).order_by(Organization.slug)  # fmt: skip
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                Organization.name.ilike(pattern, escape="\\") | Organization.slug.ilike(pattern, escape="\\")
            )
        if (condition := _state_filter(state)) is not None:
            statement = statement.where(condition)
        if after:
            statement = statement.where(Organization.slug > after)
        rows = list(await db_session.execute(statement.limit(PAGE_SIZE + 1)))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return render(
            request,
            "admin/orgs.html",
            fragment="admin/_org_results.html",
            headers=NO_STORE,
            admin_section="orgs",
            q=q,
            state=state,
            states=STATES,
            orgs=rows,
            next_after=rows[-1].slug if more else None,
        )

    @get("/{org_id:uuid}", name="admin_org")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID]
    ) -> Template:
        """Members with roles, pending invitations, domains, the security policy and its API tokens."""
        org = await _org(db_session, org_id)
        members = list(
            await db_session.execute(
                select(
                    Membership.id.label("membership_id"),
                    User.id,
                    User.email,
                    User.display_name,
                    OrgRole.name.label("role"),
                    OrgRole.key.label("role_key"),
                )
                .join(Membership, Membership.user_id == User.id)
                .join(OrgRole, OrgRole.id == Membership.role_id)
                .where(Membership.org_id == org_id)
                .order_by(User.email)
            )
        )
        invitations = list(
            await db_session.execute(
                select(OrgInvitation.email, OrgInvitation.expires_at).where(
                    OrgInvitation.org_id == org_id,
                    OrgInvitation.accepted_at.is_(None),
                    OrgInvitation.revoked_at.is_(None),
                )
            )
        )
        domains = list(
            await db_session.execute(
                select(OrgDomain.domain, OrgDomain.verified_at).where(OrgDomain.org_id == org_id)
            )
        )
        security = security_of(request)
        return render(
            request, "admin/org.html", headers=NO_STORE, admin_section="orgs",
            org=org, members=members, invitations=invitations, domains=domains,
            tokens=await org_tokens(db_session, org_id), now=security.clock.now(), owner_user_id=None,
            purge_on=org.deleted_at + security.policy.org_deletion_grace if org.deleted_at else None,
        )  # fmt: skip

    @post("/{org_id:uuid}/suspend", name="admin_org_suspend", guards=[requires_sudo])
    async def suspend(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Close every page of the organization to its members (with a reason)."""
        org = await _org(db_session, org_id)
        reason = _reason(request, data, "suspending the organization")
        if reason is None:
            return see_other(request, f"/admin/orgs/{org_id}")
        org.suspended_at = request.app.state.security.clock.now()
        await audit(db_session, request, "admin.org.suspended", actor_id=request.user.id, org_id=org.id,
                    target_type="organization", target_id=str(org.id), reason=reason)  # fmt: skip
        flash(request, f"{org.name} is suspended.", "success")
        return see_other(request, f"/admin/orgs/{org_id}")

    @post("/{org_id:uuid}/reinstate", name="admin_org_reinstate", guards=[requires_sudo])
    async def reinstate(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID]
    ) -> Response[Any]:
        """Open the organization again."""
        org = await _org(db_session, org_id)
        org.suspended_at = None
        await audit(db_session, request, "admin.org.reinstated", actor_id=request.user.id, org_id=org.id,
                    target_type="organization", target_id=str(org.id))  # fmt: skip
        flash(request, f"{org.name} is open again.", "success")
        return see_other(request, f"/admin/orgs/{org_id}")

    @post("/{org_id:uuid}/delete", name="admin_org_delete", guards=[requires_sudo])
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Delete it as its owner could: closed at once, purged after the grace period."""
        org = await _org(db_session, org_id)
        reason = _reason(request, data, "deleting the organization")
        if reason is None:
            return see_other(request, f"/admin/orgs/{org_id}")
        security = security_of(request)
        now = security.clock.now()
        if await mark_org_deleted(db_session, org.id, now):
            purge_on = now + security.policy.org_deletion_grace
            await audit(db_session, request, "admin.org.deleted", actor_id=request.user.id, org_id=org.id,
                        target_type="organization", target_id=str(org.id), reason=reason,
                        purge_after=purge_on.isoformat())  # fmt: skip
            flash(request, f"{org.name} is deleted. It will be purged on {purge_on:%d %B %Y}.", "success")
        else:
            flash(request, f"{org.name} was already deleted.", "info")
        return see_other(request, f"/admin/orgs/{org_id}")

    @post("/{org_id:uuid}/restore", name="admin_org_restore", guards=[requires_sudo])
    async def restore(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID]
    ) -> Response[Any]:
        """Bring a deleted organization back, as it was, before its purge."""
        org = await _org(db_session, org_id)
        if await restore_org(db_session, org.id):
            await audit(db_session, request, "admin.org.restored", actor_id=request.user.id, org_id=org.id,
                        target_type="organization", target_id=str(org.id))  # fmt: skip
            flash(request, f"{org.name} is restored.", "success")
        else:
            flash(request, f"{org.name} was not deleted.", "info")
        return see_other(request, f"/admin/orgs/{org_id}")

    @post("/{org_id:uuid}/transfer", name="admin_org_transfer", guards=[requires_sudo])
    async def transfer(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Make the chosen member the owner (on a verified request); they are told by mail."""
        org = await _org(db_session, org_id)
        reason = _reason(request, data, "the transfer (who asked, how it was checked)")
        membership_id = _uuid(data.get("membership_id", ""))
        if reason is None or membership_id is None:
            if membership_id is None:
                flash(request, "Choose the member who becomes the owner.", "error")
            return see_other(request, f"/admin/orgs/{org_id}")
        member, former_owners = await transfer_ownership(db_session, org.id, membership_id)
        owner = await db_session.get(User, member.user_id)
        assert owner is not None  # a membership's user exists (foreign key)
        await audit(db_session, request, "admin.org.ownership_transferred", actor_id=request.user.id,
                    org_id=org.id, target_type="user", target_id=str(owner.id), reason=reason,
                    former_owners=[str(uid) for uid in former_owners])  # fmt: skip
        security = security_of(request)
        security.adapter.send_mail(
            db_session, to=owner.email, template="org_ownership_transferred",
            context={"org_name": org.name, "org_link": f"{security.base_url}/o/{org.slug}/members"},
        )  # fmt: skip
        flash(request, f"{owner.email} now owns {org.name}; they were told by mail.", "success")
        return see_other(request, f"/admin/orgs/{org_id}")


async def _org(db: DBSession, org_id: UUID) -> Organization:
    org = await db.get(Organization, org_id)
    if org is None:
        raise NotFoundException()
    return org


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(str(value)[:40])
    except ValueError:
        return None
