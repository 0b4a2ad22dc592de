"""Organization invitations by email [72].

An invitation is a 256-bit token mailed to one address (only its SHA-256 is stored), single use,
valid `invitation_ttl` (7 days), revocable, and carries a role the inviter may grant. It is
accepted only by a signed-in account whose *confirmed* address is the invited one (canonical
forms compared), and only if the inviter still may grant that role at that moment; otherwise it
fails and says why in general terms. Accepting is one conditional UPDATE (`accepted_at IS NULL`)
plus an insert that the (org, user) unique index makes idempotent, so two accepts at once give
one membership. Limits: `invitations_pending_per_org` pending per organization and
`invitations_per_inviter_per_hour` sent per inviter per hour.

An invitation to an existing member with the owner role is how ownership is transferred: the
new owner accepts it (their membership becomes owner) and stays in charge of demoting the old one.

Enumeration: the invitation page says the same thing for an unknown, used, expired or revoked
token ("this invitation is no longer valid"), and inviting an address says nothing about whether
an account exists for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.models import Membership, Organization, OrgInvitation, OrgRole
from app.auth.core.orgs import OWNER_ROLE_ID, OrgContext, OrgRuleError, may_grant, role_in_org
from app.auth.core.tokens import new_token, token_digest
from app.auth.core.toolkit import Security

__all__ = (
    "Acceptance",
    "accept_invitation",
    "find_invitation",
    "invite",
    "pending_invitations",
    "revoke_invitation",
)


async def invite(
    db: AsyncSession, security: Security, ctx: OrgContext, email: str, role_id: UUID
) -> tuple[OrgInvitation, str]:
    """Invite `email` with a role; the invitation and its token (for the mailed link).

    A pending invitation to the same address is replaced (its link stops working).
    """
    if not ctx.can("members:invite"):
        raise OrgRuleError("You do not have permission to invite people.")
    try:
        canonical = canonical_email(email)
    except InvalidEmail as exc:
        raise OrgRuleError(str(exc), status=422) from exc
    role = await role_in_org(db, ctx.org_id, role_id)
    if role is None:
        raise OrgRuleError("No such role.", status=404)
    if not may_grant(ctx, role):
        raise OrgRuleError("You cannot invite with a role that has permissions you do not hold.")
    now = security.clock.now()
    policy = security.policy
    live = (
        OrgInvitation.accepted_at.is_(None),
        OrgInvitation.revoked_at.is_(None),
        OrgInvitation.expires_at > now,
    )
    await db.execute(select(Organization.id).where(Organization.id == ctx.org_id).with_for_update())
    pending = await db.scalar(select(func.count()).where(OrgInvitation.org_id == ctx.org_id, *live))
    if int(pending or 0) >= policy.invitations_pending_per_org:
        raise OrgRuleError(
            f"This organization has {policy.invitations_pending_per_org} pending invitations. "
            "Revoke some before sending more.",
            status=429,
        )
    sent = await db.scalar(
        select(func.count()).where(
            OrgInvitation.invited_by == ctx.user_id, OrgInvitation.created_at > now - timedelta(hours=1)
        )
    )
    if int(sent or 0) >= policy.invitations_per_inviter_per_hour:
        raise OrgRuleError("You have sent many invitations in the last hour. Try again later.", status=429)
    await db.execute(
        update(OrgInvitation)
        .where(OrgInvitation.org_id == ctx.org_id, OrgInvitation.email_canonical == canonical, *live)
        .values(revoked_at=now)
    )
    token = new_token()
    invitation = OrgInvitation(
        org_id=ctx.org_id,
        email=email.strip(),
        email_canonical=canonical,
        role_id=role.id,
        token_hash=token_digest(token),
        invited_by=ctx.user_id,
        expires_at=now + policy.invitation_ttl,
    )
    db.add(invitation)
    await db.flush()
    return invitation, token


async def pending_invitations(
    db: AsyncSession, security: Security, org_id: UUID
) -> list[tuple[OrgInvitation, str]]:
    """The organization's live invitations with their role names, newest first (one statement)."""
    now = security.clock.now()
    rows = await db.execute(
        select(OrgInvitation, OrgRole.name)
        .join(OrgRole, OrgRole.id == OrgInvitation.role_id)
        .where(
            OrgInvitation.org_id == org_id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
            OrgInvitation.expires_at > now,
        )
        .order_by(OrgInvitation.created_at.desc())
    )
    return [(invitation, name) for invitation, name in rows.all()]


async def revoke_invitation(
    db: AsyncSession, security: Security, ctx: OrgContext, invitation_id: UUID
) -> bool:
    """Revoke a pending invitation of this organization. True if there was one."""
    if not ctx.can("members:invite"):
        raise OrgRuleError("You do not have permission to manage invitations.")
    revoked = await db.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.id == invitation_id,
            OrgInvitation.org_id == ctx.org_id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=security.clock.now())
        .returning(OrgInvitation.id)
    )
    return revoked.first() is not None


@dataclass(frozen=True)
class Invitation:
    """A live invitation as its page shows it."""

    id: UUID
    org_id: UUID
    org_name: str
    org_slug: str
    email: str
    email_canonical: str
    role_id: UUID
    role_name: str
    invited_by: UUID | None


async def find_invitation(db: AsyncSession, security: Security, token: str) -> Invitation | None:
    """The live invitation a token belongs to, or None (unknown, used, revoked and expired alike)."""
    if not token or len(token) > 100:
        return None
    row = (
        await db.execute(
            select(OrgInvitation, Organization.name, Organization.slug, OrgRole.name)
            .join(Organization, Organization.id == OrgInvitation.org_id)
            .join(OrgRole, OrgRole.id == OrgInvitation.role_id)
            .where(
                OrgInvitation.token_hash == token_digest(token),
                OrgInvitation.accepted_at.is_(None),
                OrgInvitation.revoked_at.is_(None),
                OrgInvitation.expires_at > security.clock.now(),
                Organization.deleted_at.is_(None),  # nobody joins a deleted organization
            )
        )
    ).first()
    if row is None:
        return None
    invitation, org_name, org_slug, role_name = row
    return Invitation(
        id=invitation.id,
        org_id=invitation.org_id,
        org_name=org_name,
        org_slug=org_slug,
        email=invitation.email,
        email_canonical=invitation.email_canonical,
        role_id=invitation.role_id,
        role_name=role_name,
        invited_by=invitation.invited_by,
    )


@dataclass(frozen=True)
class Acceptance:
    """What accepting did: `joined` (or `promoted` for an ownership transfer), or why it failed."""

    outcome: Literal["joined", "promoted", "gone", "wrong_account", "inviter_lost_rights"]
    org_slug: str = ""


async def accept_invitation(db: AsyncSession, security: Security, token: str, user: Any) -> Acceptance:
    """Accept for the signed-in `user` (their confirmed address must be the invited one)."""
    invitation = await find_invitation(db, security, token)
    if invitation is None:
        return Acceptance("gone")
    if user.email_canonical != invitation.email_canonical or user.confirmed_at is None:
        return Acceptance("wrong_account")
    if not await _inviter_may_still_grant(db, invitation):
        return Acceptance("inviter_lost_rights")
    spent = await db.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.id == invitation.id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
        .values(accepted_at=security.clock.now())
        .returning(OrgInvitation.id)
    )
    if spent.first() is None:
        return Acceptance("gone")  # accepted or revoked a moment ago
    existing = await db.scalar(
        select(Membership)
        .where(Membership.org_id == invitation.org_id, Membership.user_id == user.id)
        .with_for_update()
    )
    if existing is not None:
        if invitation.role_id == OWNER_ROLE_ID and existing.role_id != OWNER_ROLE_ID:
            existing.role_id = OWNER_ROLE_ID
            return Acceptance("promoted", invitation.org_slug)
        return Acceptance("joined", invitation.org_slug)
    await db.execute(
        insert(Membership)
        .values(org_id=invitation.org_id, user_id=user.id, role_id=invitation.role_id)
        .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
    )
    return Acceptance("joined", invitation.org_slug)


async def _inviter_may_still_grant(db: AsyncSession, invitation: Invitation) -> bool:
    """The inviter is still a member who may invite, with a role at least as strong as the invited one."""
    if invitation.invited_by is None:
        return False
    row = (
        await db.execute(
            select(OrgRole)
            .join(Membership, Membership.role_id == OrgRole.id)
            .where(Membership.org_id == invitation.org_id, Membership.user_id == invitation.invited_by)
        )
    ).scalar_one_or_none()
    invited_role = await db.get(OrgRole, invitation.role_id)
    if row is None or invited_role is None or "members:invite" not in row.permissions:
        return False
    if invited_role.id == OWNER_ROLE_ID:
        return row.id == OWNER_ROLE_ID
    return set(invited_role.permissions) <= set(row.permissions)
