"""`/admin/orgs`: find an organization, see its members, suspend or reinstate it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import func, select

from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.models import Membership, Organization, OrgDomain, OrgInvitation, OrgRole
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("AdminOrgsController",)

PAGE_SIZE = 25


class AdminOrgsController(Controller):
    """Organizations, platform-wide."""

    path = "/admin/orgs"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_orgs")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Search by name or slug; keyset pages by name."""
        q = " ".join(str(request.query_params.get("q", "")).split())[:100]
        after = str(request.query_params.get("after", ""))[:200]
        members = (
            select(func.count(Membership.id)).where(Membership.org_id == Organization.id).scalar_subquery()
        )
        statement = select(
            Organization.id, Organization.name, Organization.slug, Organization.personal,
            Organization.suspended_at, Organization.created_at, members.label("members"),
        ).order_by(Organization.slug)  # fmt: skip
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                Organization.name.ilike(pattern, escape="\\") | Organization.slug.ilike(pattern, escape="\\")
            )
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
            orgs=rows,
            next_after=rows[-1].slug if more else None,
        )

    @get("/{org_id:uuid}", name="admin_org")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID]
    ) -> Template:
        """Members with roles, pending invitations, domains and the security policy."""
        org = await db_session.get(Organization, org_id)
        if org is None:
            raise NotFoundException()
        members = list(
            await db_session.execute(
                select(User.id, User.email, User.display_name, OrgRole.name.label("role"))
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
        return render(
            request, "admin/org.html", headers=NO_STORE, admin_section="orgs",
            org=org, members=members, invitations=invitations, domains=domains,
        )  # fmt: skip

    @post("/{org_id:uuid}/suspend", name="admin_org_suspend", guards=[requires_sudo])
    async def suspend(
        self, request: Request[Any, Any, Any], db_session: DBSession, org_id: FromPath[UUID], data: FormData
    ) -> Response[Any]:
        """Close every page of the organization to its members (with a reason)."""
        org = await _org(db_session, org_id)
        reason = " ".join(data.get("reason", "").split())[:500]
        if len(reason) < 3:
            flash(request, "Give a reason for suspending the organization.", "error")
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


async def _org(db: DBSession, org_id: UUID) -> Organization:
    org = await db.get(Organization, org_id)
    if org is None:
        raise NotFoundException()
    return org
