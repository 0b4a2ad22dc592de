"""What the organization pages read and the few things they do beyond the core's rules.

The rules themselves (who may change a role, the last owner, invitations) are the core's
(`app.auth.core.orgs`, `invitations`); this module reads lists for the pages, each in one
statement, and makes the personal workspace a new account starts with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import exists, func, or_, select

from app.auth.core.models import (
    AuditEvent,
    Membership,
    Organization,
    OrgInvitation,
    OrgRole,
    TotpCredential,
    WebAuthnCredential,
)
from app.auth.core.orgs import OWNER_ROLE_ID, available_slug, create_org, slug_from_name
from app.auth.models import User
from app.projects.models import Project
from app.web.landing import LANDING_PATH  # the org dashboard answers it

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = (
    "LANDING_PATH",
    "Activity",
    "DashboardFacts",
    "MemberRow",
    "OrgChoice",
    "create_personal_workspace",
    "dashboard_facts",
    "landing_slug",
    "members_of",
    "orgs_of",
    "recent_activity",
    "workspace_name",
)

RECENT_ACTIVITY = 10
"""Events shown on the dashboard."""


@dataclass(frozen=True)
class OrgChoice:
    """An organization the person belongs to, as the switcher and the list show it."""

    slug: str
    name: str
    personal: bool
    role_name: str


async def orgs_of(db: AsyncSession, user_id: UUID) -> list[OrgChoice]:
    """Every organization `user_id` belongs to: personal workspaces first, then by name."""
    rows = await db.execute(
        select(Organization.slug, Organization.name, Organization.personal, OrgRole.name)
        .join(Membership, Membership.org_id == Organization.id)
        .join(OrgRole, OrgRole.id == Membership.role_id)
        .where(Membership.user_id == user_id, Organization.deleted_at.is_(None))
        .order_by(Organization.personal.desc(), Organization.name, Organization.slug)
    )
    return [OrgChoice(slug, name, personal, role) for slug, name, personal, role in rows.all()]


async def landing_slug(db: AsyncSession, user_id: UUID, preferred: str = "") -> str | None:
    """Where a signed-in person lands: `preferred` (the last org they opened) if they still belong
    to it, else their personal workspace, else the organization they joined first; None if none."""
    rows = (
        await db.execute(
            select(Organization.slug)
            .join(Membership, Membership.org_id == Organization.id)
            .where(Membership.user_id == user_id, Organization.deleted_at.is_(None))
            .order_by(
                (Organization.slug == preferred).desc(),
                Organization.personal.desc(),
                Membership.created_at,
            )
            .limit(1)
        )
    ).first()
    return rows[0] if rows else None


def workspace_name(display_name: str, email: str) -> str:
    """ "Ada's workspace", from the display name or else the address's local part."""
    who = " ".join(display_name.split()) or email.split("@", 1)[0]
    return f"{who[:80]}\u2019s workspace"


async def create_personal_workspace(db: AsyncSession, user: Any) -> Organization:
    """The organization a new account starts in, with the person as its owner."""
    name = workspace_name(getattr(user, "display_name", "") or "", user.email)
    base = slug_from_name(user.email.split("@", 1)[0])
    return await create_org(
        db, owner_id=user.id, name=name, slug=await available_slug(db, base), personal=True
    )


@dataclass(frozen=True)
class MemberRow:
    """One line of the members page."""

    membership_id: UUID
    user_id: UUID
    email: str
    display_name: str
    role_id: UUID
    role_name: str
    joined_at: datetime
    has_second_factor: bool

    @property
    def is_owner(self) -> bool:
        return self.role_id == OWNER_ROLE_ID


async def members_of(db: AsyncSession, org_id: UUID) -> list[MemberRow]:
    """The organization's members with role and second-factor status, owners first (one statement)."""
    has_totp = exists().where(TotpCredential.user_id == User.id, TotpCredential.confirmed_at.is_not(None))
    has_passkey = exists().where(WebAuthnCredential.user_id == User.id)
    rows = await db.execute(
        select(
            Membership.id,
            User.id,
            User.email,
            User.display_name,
            OrgRole.id,
            OrgRole.name,
            Membership.created_at,
            or_(has_totp, has_passkey),
        )
        .join(User, User.id == Membership.user_id)
        .join(OrgRole, OrgRole.id == Membership.role_id)
        .where(Membership.org_id == org_id)
        .order_by((OrgRole.id == OWNER_ROLE_ID).desc(), User.display_name, User.email)
    )
    return [MemberRow(*row) for row in rows.all()]


ACTIVITY_TEXT = {
    "org.created": "created the organization",
    "org.renamed": "renamed the organization",
    "org.slug_changed": "moved the organization to a new address",
    "org.security_policy_changed": "changed the security policy",
    "org.member.role_changed": "changed a member\u2019s role",
    "org.member.removed": "removed a member",
    "org.member.left": "left the organization",
    "org.member.joined": "joined the organization",
    "org.invitation.sent": "invited someone",
    "org.invitation.resent": "sent an invitation again",
    "org.invitation.revoked": "revoked an invitation",
    "org.role.created": "created a custom role",
}
"""How the dashboard words an event; other actions are shown by name."""

ACTIVITY_PREFIXES = ("org.", "project.")
"""Events every member sees on the dashboard (the full log, with addresses, is for `audit:read`)."""


@dataclass(frozen=True)
class Activity:
    """An audit event as the dashboard tells it."""

    occurred_at: datetime
    action: str
    outcome: str
    actor: str
    details: dict[str, Any]

    @property
    def text(self) -> str:
        return ACTIVITY_TEXT.get(self.action, self.action)


async def recent_activity(db: AsyncSession, org_id: UUID, limit: int = RECENT_ACTIVITY) -> list[Activity]:
    """The organization's newest audit events with who did them (one statement)."""
    rows = await db.execute(
        select(
            AuditEvent.occurred_at,
            AuditEvent.action,
            AuditEvent.outcome,
            User.display_name,
            User.email,
            AuditEvent.details,
        )
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.org_id == org_id, or_(*(AuditEvent.action.startswith(p) for p in ACTIVITY_PREFIXES))
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return [
        Activity(at, action, outcome, (name or email or "Someone"), details or {})
        for at, action, outcome, name, email, details in rows.all()
    ]


@dataclass(frozen=True)
class DashboardFacts:
    """What the welcome panel checks off."""

    members: int
    pending_invitations: int
    has_second_factor: bool
    has_project: bool


async def dashboard_facts(db: AsyncSession, org_id: UUID, user_id: UUID, now: datetime) -> DashboardFacts:
    """Member and pending-invitation counts, the person's second factor and whether the organization
    has a project yet, in one statement."""
    members = select(func.count()).where(Membership.org_id == org_id).scalar_subquery()
    pending = (
        select(func.count())
        .where(
            OrgInvitation.org_id == org_id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
            OrgInvitation.expires_at > now,
        )
        .scalar_subquery()
    )
    has_totp = exists().where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None))
    has_passkey = exists().where(WebAuthnCredential.user_id == user_id)
    has_project = exists().where(Project.org_id == org_id)
    row = (await db.execute(select(members, pending, or_(has_totp, has_passkey), has_project))).one()
    return DashboardFacts(int(row[0]), int(row[1]), bool(row[2]), bool(row[3]))
