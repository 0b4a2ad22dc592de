"""The API's reads: organizations, members and project pages with cursors (writes reuse the host services)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import or_, select

from app.api.problems import Problem
from app.api.schemas import InvitationOut, Member, Org, ProjectOut
from app.auth.core.api_auth import ApiPrincipal
from app.auth.core.models import Membership, Organization, OrgInvitation, OrgRole
from app.auth.core.tenancy import scoped
from app.auth.models import User
from app.projects.models import Project

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.orgs import OrgContext

__all__ = (
    "decode_cursor",
    "encode_cursor",
    "invitation_out",
    "list_invitations",
    "list_members",
    "list_orgs",
    "list_projects",
    "project_out",
)

MAX_LIMIT = 100
SEARCH_MAX = 100


def encode_cursor(last_id: UUID) -> str:
    """An opaque cursor that continues after `last_id` (ids are UUIDv7, so they sort by creation)."""
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    """The id a cursor continues after; 400 when it is not one we made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise Problem(400, "That cursor is not valid; start from the first page.") from None


async def list_orgs(db: AsyncSession, principal: ApiPrincipal) -> list[Org]:
    """The organizations the token reaches, with what it may do in each (its scopes ∩ the role)."""
    if principal.is_personal:
        rows = await db.execute(
            select(Organization.slug, Organization.name, Organization.personal, OrgRole.permissions)
            .join(Membership, Membership.org_id == Organization.id)
            .join(OrgRole, OrgRole.id == Membership.role_id)
            .where(Membership.user_id == principal.user_id, Organization.deleted_at.is_(None))
            .order_by(Organization.slug)
        )
        return [Org(r.slug, r.name, r.personal, sorted(set(r.permissions) & principal.scopes)) for r in rows]
    rows = await db.execute(
        select(Organization.slug, Organization.name, Organization.personal).where(
            Organization.id == principal.org_id, Organization.deleted_at.is_(None)
        )
    )
    return [Org(r.slug, r.name, r.personal, sorted(principal.scopes)) for r in rows]


async def list_members(db: AsyncSession, ctx: OrgContext) -> list[Member]:
    """The organization's members with their roles, in the order they joined."""
    rows = await db.execute(
        select(
            Membership.id,
            Membership.user_id,
            Membership.created_at,
            User.email,
            User.display_name,
            OrgRole.key,
        )
        .join(User, User.id == Membership.user_id)
        .join(OrgRole, OrgRole.id == Membership.role_id)
        .where(Membership.org_id == ctx.org_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [Member(r.id, r.user_id, r.email, r.display_name, r.key, r.created_at) for r in rows]


def invitation_out(invitation: OrgInvitation, role: OrgRole) -> InvitationOut:
    """The API's view of an invitation."""
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=role.key,
        role_name=role.name,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


async def list_invitations(db: AsyncSession, ctx: OrgContext, now: datetime) -> list[InvitationOut]:
    """The organization's pending invitations with their roles, newest first (one statement)."""
    rows = await db.execute(
        select(OrgInvitation, OrgRole)
        .join(OrgRole, OrgRole.id == OrgInvitation.role_id)
        .where(
            OrgInvitation.org_id == ctx.org_id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
            OrgInvitation.expires_at > now,
        )
        .order_by(OrgInvitation.created_at.desc(), OrgInvitation.id.desc())
    )
    return [invitation_out(invitation, role) for invitation, role in rows]


def project_out(project: Project) -> ProjectOut:
    """The API's view of a project."""
    return ProjectOut(
        id=project.id,
        name=project.name,
        summary=project.summary,
        archived=project.archived_at is not None,
        created_at=project.created_at,
        updated_at=project.updated_at,
        created_by=project.created_by,
    )


async def list_projects(
    db: AsyncSession, ctx: OrgContext, *, status: str, search: str, limit: int, cursor: str | None
) -> tuple[list[ProjectOut], str | None]:
    """One page of the organization's projects, oldest first, and the cursor of the next page."""
    query = scoped(Project, ctx)
    if status == "active":
        query = query.where(Project.archived_at.is_(None))
    elif status == "archived":
        query = query.where(Project.archived_at.is_not(None))
    search = " ".join(search.split())[:SEARCH_MAX]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(Project.name.ilike(pattern, escape="\\"), Project.summary.ilike(pattern, escape="\\"))
        )
    if cursor:
        query = query.where(Project.id > decode_cursor(cursor))
    rows: list[Any] = list((await db.scalars(query.order_by(Project.id).limit(limit + 1))).all())
    more = len(rows) > limit
    page = rows[:limit]
    return [project_out(p) for p in page], encode_cursor(page[-1].id) if more else None
