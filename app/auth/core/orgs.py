"""Organizations: permissions, roles and the invariants that keep an organization governable [68]-[73].

A role is a named set of permissions from one table (`PERMISSIONS`). The built-in roles are the
same for every organization; an organization may add custom roles built from the same
permissions. The rules, each enforced here and nowhere else:

- **Nobody grants what they do not hold.** Assigning a role, inviting with a role or creating a
  custom role needs `roles:assign` (or `members:invite`) and a role whose permissions are all the
  actor's own; only an owner makes an owner [71].
- **Nobody changes their own role**, and **an organization always has an owner**: the last owner
  cannot be demoted, removed, or leave [71].
- **Removal takes effect at once**: the membership row is gone, so the next request finds no
  membership; invitations the removed person sent are revoked [73].

Every check reads the actor's *current* membership (`OrgContext` is loaded per request by the
`requires_org_permission` guard), so a demotion applies on the affected person's next request.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import SystemClock
from app.auth.core.models import Membership, Organization, OrgInvitation, OrgRole, OrgSlugRedirect
from app.auth.core.security_events import chosen_events
from app.auth.core.toolkit import Security

__all__ = (
    "ADMIN_ROLE_ID",
    "BUILTIN_ROLES",
    "MEMBER_ROLE_ID",
    "OWNER_ROLE_ID",
    "PERMISSIONS",
    "SIGN_IN_KINDS",
    "InvalidSlugError",
    "OrgContext",
    "OrgPurgeHook",
    "OrgRuleError",
    "change_role",
    "create_custom_role",
    "create_org",
    "delete_org",
    "leave_org",
    "mark_org_deleted",
    "normalize_slug",
    "purge_deleted_orgs",
    "remove_member",
    "rename_org",
    "rename_slug",
    "restore_org",
    "roles_for",
    "set_security_policy",
    "slug_from_name",
    "transfer_ownership",
)

PERMISSIONS: Mapping[str, str] = {
    "members:invite": "Invite people and manage pending invitations",
    "members:remove": "Remove members",
    "roles:assign": "Change members' roles and manage custom roles",
    "org:settings": "Change the organization's name, address and security settings",
    "org:delete": "Delete the organization",
    "domains:manage": "Add and verify the organization's domains",
    "billing:manage": "Manage billing",
    "projects:write": "Create, edit, archive and delete projects",
    "audit:read": "Read and export the organization's audit log",
    "tokens:manage": "Create and revoke the organization's API tokens",
}
"""Every permission a role can carry, with what it allows (shown when building a custom role)."""

OWNER_ROLE_ID = UUID("00000000-0000-7000-8000-00000000000a")
ADMIN_ROLE_ID = UUID("00000000-0000-7000-8000-00000000000b")
MEMBER_ROLE_ID = UUID("00000000-0000-7000-8000-00000000000c")

BUILTIN_ROLES: tuple[tuple[UUID, str, str, tuple[str, ...]], ...] = (
    (OWNER_ROLE_ID, "owner", "Owner", tuple(PERMISSIONS)),
    (
        ADMIN_ROLE_ID,
        "admin",
        "Admin",
        (
            "members:invite",
            "members:remove",
            "roles:assign",
            "org:settings",
            "domains:manage",
            "projects:write",
            "audit:read",
            "tokens:manage",
        ),
    ),
    (MEMBER_ROLE_ID, "member", "Member", ("projects:write",)),
)
"""(id, key, name, permissions) of the roles every organization has; the core migration inserts them."""

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,46}[a-z0-9])$")
RESERVED_SLUGS = frozenset({"new", "admin", "api", "settings", "static", "login", "www", "app", "help"})


class OrgRuleError(Exception):
    """An action would break a rule; `reason` says which (shown to the person, status 403/409)."""

    def __init__(self, reason: str, *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class InvalidSlugError(ValueError):
    """The slug is not 3-48 lowercase letters, digits and inner hyphens, or is reserved or taken."""


@dataclass(frozen=True, slots=True)
class OrgContext:
    """The organization of this request and the signed-in person's place in it (`request.scope["org"]`)."""

    org_id: UUID
    slug: str
    name: str
    personal: bool
    membership_id: UUID
    user_id: UUID
    role_id: UUID
    role_key: str
    role_name: str
    permissions: frozenset[str]
    require_mfa: bool
    allowed_sign_in: tuple[str, ...]
    session_max_age: int | None
    domain_join: str

    @property
    def is_owner(self) -> bool:
        return self.role_id == OWNER_ROLE_ID

    def can(self, permission: str) -> bool:
        """Whether the person holds `permission` in this organization."""
        return permission in self.permissions


async def ensure_builtin_roles(conn: Any) -> None:
    """Insert the built-in roles if they are missing (the migration does; tests that empty tables too)."""
    from sqlalchemy.dialects.postgresql import insert

    now = SystemClock().now()
    rows = [
        {
            "id": rid,
            "org_id": None,
            "key": key,
            "name": name,
            "permissions": list(perms),
            "created_at": now,
            "updated_at": now,
        }
        for rid, key, name, perms in BUILTIN_ROLES
    ]
    await conn.execute(insert(OrgRole).values(rows).on_conflict_do_nothing(index_elements=["id"]))


# --- slugs


def normalize_slug(text: str) -> str:
    """The slug as typed, lower-cased and trimmed; raises `InvalidSlugError` when it cannot be one."""
    slug = text.strip().lower()
    if not _SLUG.fullmatch(slug) or "--" in slug:
        raise InvalidSlugError("Use 3 to 48 lowercase letters, digits and single hyphens (not at the ends).")
    if slug in RESERVED_SLUGS:
        raise InvalidSlugError("That address is reserved. Choose another.")
    return slug


def slug_from_name(name: str) -> str:
    """A slug suggestion from a name ("Acme Inc." → "acme-inc")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48].strip("-")
    return slug if len(slug) >= 3 else (slug + "-org")[:48]


async def _slug_taken(db: AsyncSession, slug: str, *, except_org: UUID | None = None) -> bool:
    org = await db.scalar(select(Organization.id).where(Organization.slug == slug))
    moved = await db.scalar(select(OrgSlugRedirect.org_id).where(OrgSlugRedirect.slug == slug))
    return (org is not None and org != except_org) or (moved is not None and moved != except_org)


async def available_slug(db: AsyncSession, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is free (for personal workspaces)."""
    candidate = base
    n = 1
    while await _slug_taken(db, candidate) or candidate in RESERVED_SLUGS:
        n += 1
        candidate = f"{base[: 48 - len(str(n)) - 1]}-{n}"
    return candidate


async def create_org(
    db: AsyncSession, *, owner_id: UUID, name: str, slug: str, personal: bool = False
) -> Organization:
    """A new organization with `owner_id` as its first owner."""
    slug = normalize_slug(slug)
    if await _slug_taken(db, slug):
        raise InvalidSlugError("That address is taken. Choose another.")
    org = Organization(name=name.strip()[:100], slug=slug, personal=personal, allowed_sign_in=[])
    db.add(org)
    await db.flush()
    db.add(Membership(org_id=org.id, user_id=owner_id, role_id=OWNER_ROLE_ID))
    await db.flush()
    return org


async def rename_slug(db: AsyncSession, ctx: OrgContext, new_slug: str) -> str:
    """Move the organization to a new address; the old one keeps redirecting to it."""
    _require(ctx, "org:settings")
    slug = normalize_slug(new_slug)
    if slug == ctx.slug:
        return slug
    if await _slug_taken(db, slug, except_org=ctx.org_id):
        raise InvalidSlugError("That address is taken. Choose another.")
    await db.execute(delete(OrgSlugRedirect).where(OrgSlugRedirect.slug == slug))
    db.add(OrgSlugRedirect(slug=ctx.slug, org_id=ctx.org_id))
    await db.execute(update(Organization).where(Organization.id == ctx.org_id).values(slug=slug))
    return slug


async def rename_org(db: AsyncSession, ctx: OrgContext, name: str) -> str:
    """Give the organization a new display name (its address stays)."""
    _require(ctx, "org:settings")
    clean = " ".join(name.split())[:100]
    if not clean:
        raise OrgRuleError("Give the organization a name.", status=422)
    await db.execute(update(Organization).where(Organization.id == ctx.org_id).values(name=clean))
    return clean


SIGN_IN_KINDS: Mapping[str, str] = {
    "password": "Password",
    "remembered": "A remembered browser (“Keep me signed in”)",
    "passkey": "Passkey",
    "magic_link": "Emailed link or code",
    "oauth": "An identity provider (Google, GitHub, ...)",
    "email_confirmation": "Confirming a new address",
}
"""Session kinds an organization may accept (`Organization.allowed_sign_in`), with what they mean."""


async def set_security_policy(
    db: AsyncSession,
    security: Security,
    ctx: OrgContext,
    *,
    require_mfa: bool,
    allowed_sign_in: Iterable[str],
    session_max_age: int | None,
    actor_has_second_factor: bool,
    actor_session_kind: str,
    security_events: Iterable[str] | None = None,
) -> None:
    """The organization's sign-in policy, enforced on every org request by `tenancy`.

    A policy that would shut out the person setting it on their next request is refused: requiring
    two-factor without having it, or leaving out how their own session signed in. An empty
    `allowed_sign_in` means any way; `session_max_age` may only be shorter than the global limit.
    `security_events` (None: unchanged) are the security events its webhooks may be sent.
    """
    _require(ctx, "org:settings")
    kinds = sorted(set(allowed_sign_in))
    unknown = [kind for kind in kinds if kind not in SIGN_IN_KINDS]
    if unknown:
        raise OrgRuleError(f"Unknown sign-in method: {unknown[0]}.", status=422)
    if require_mfa and not actor_has_second_factor:
        raise OrgRuleError(
            "Set up two-step verification on your own account before requiring it for everyone.", status=409
        )
    if kinds and actor_session_kind not in kinds:
        raise OrgRuleError(
            "That would sign you out of this organization: keep the way you signed in this time allowed.",
            status=409,
        )
    longest = int(security.policy.session_absolute_timeout.total_seconds())
    if session_max_age is not None and not 300 <= session_max_age < longest:
        raise OrgRuleError(
            f"A session limit must be at least 5 minutes and shorter than {longest // 3600} hours.",
            status=422,
        )
    values: dict[str, Any] = {
        "require_mfa": require_mfa,
        "allowed_sign_in": kinds,
        "session_max_age": session_max_age,
    }
    if security_events is not None:
        try:
            values["security_events"] = chosen_events(security_events)
        except ValueError as exc:
            raise OrgRuleError(str(exc), status=422) from exc
    await db.execute(update(Organization).where(Organization.id == ctx.org_id).values(**values))


async def delete_org(db: AsyncSession, ctx: OrgContext, *, now: datetime | None = None) -> datetime:
    """Delete the organization for its owner (the host asks for sudo); when it was deleted.

    Deletion is soft: `deleted_at` closes every page and API route of the organization at once
    (to members it is not found, like an organization that never existed), and the periodic
    `purge_deleted_orgs` removes it with everything it owns once `org_deletion_grace` has passed.
    Until then a platform administrator can restore it (`restore_org`).
    """
    _require(ctx, "org:delete")
    when = now or SystemClock().now()
    await mark_org_deleted(db, ctx.org_id, when)
    return when


async def mark_org_deleted(db: AsyncSession, org_id: UUID, now: datetime) -> bool:
    """Close the organization as deleted (for `delete_org` and the admin console); False if it already was."""
    deleted = await db.scalar(
        update(Organization)
        .where(Organization.id == org_id, Organization.deleted_at.is_(None))
        .values(deleted_at=now)
        .returning(Organization.id)
    )
    return deleted is not None


async def restore_org(db: AsyncSession, org_id: UUID) -> bool:
    """Open a deleted, not yet purged organization again, as it was; False if it was not deleted."""
    restored = await db.scalar(
        update(Organization)
        .where(Organization.id == org_id, Organization.deleted_at.is_not(None))
        .values(deleted_at=None)
        .returning(Organization.id)
    )
    return restored is not None


OrgPurgeHook = Callable[[AsyncSession, UUID], Awaitable[None]]
"""`(db, org_id)`: the host removes what it keeps for an organization about to be purged."""


async def purge_deleted_orgs(
    db: AsyncSession,
    now: datetime,
    grace: timedelta,
    *,
    hooks: Iterable[OrgPurgeHook] = (),
    limit: int = 100,
) -> list[UUID]:
    """Remove organizations deleted more than `grace` ago, with everything they own; their ids.

    Idempotent and safe to run from several workers at once: each organization is locked (`SKIP
    LOCKED`) and gone when its transaction commits, so a second run finds nothing to do. The host's
    `hooks` run first (its own org-scoped tables, files elsewhere), then the membership-ended hooks
    for every member; the database cascades the rest (roles, invitations, domains, API tokens,
    webhooks, old slugs). The audit log keeps its events: it is append-only and holds no foreign key.
    """
    cutoff = now - grace
    org_ids = (
        await db.scalars(
            select(Organization.id)
            .where(Organization.deleted_at.is_not(None), Organization.deleted_at <= cutoff)
            .order_by(Organization.deleted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    chosen = tuple(hooks)
    for org_id in org_ids:
        for hook in chosen:
            await hook(db, org_id)
        members = (await db.scalars(select(Membership.user_id).where(Membership.org_id == org_id))).all()
        for user_id in members:
            for ended in MEMBERSHIP_ENDED_HOOKS:
                await ended(db, org_id, user_id)
        # Memberships first: their role may be a custom role, which RESTRICT keeps while it is in use.
        await db.execute(delete(Membership).where(Membership.org_id == org_id))
        await db.execute(delete(Organization).where(Organization.id == org_id))
    return list(org_ids)


async def transfer_ownership(
    db: AsyncSession, org_id: UUID, membership_id: UUID
) -> tuple[Membership, list[UUID]]:
    """Make one member the owner, for a platform administrator; the new owner's membership and the
    user ids of the former owners, who become admins.

    For the case where the owners cannot act (they left the company, lost their account): support
    checks the request, then hands the organization over. The organization keeps exactly the one
    owner it was given, so the "always an owner" rule holds throughout [71]; the former owners stay
    members with the admin role, which the new owner can change.
    """
    await _lock_org(db, org_id)
    member = await _member(db, org_id, membership_id)
    if member.role_id == OWNER_ROLE_ID and await _owners(db, org_id) == 1:
        raise OrgRuleError("That member is already the only owner.", status=409)
    former = await db.scalars(
        update(Membership)
        .where(Membership.org_id == org_id, Membership.role_id == OWNER_ROLE_ID, Membership.id != member.id)
        .values(role_id=ADMIN_ROLE_ID)
        .returning(Membership.user_id)
    )
    former_owners = list(former.all())
    member.role_id = OWNER_ROLE_ID
    await db.flush()
    return member, former_owners


# --- roles


async def roles_for(db: AsyncSession, org_id: UUID) -> list[OrgRole]:
    """The built-in roles and the organization's custom ones, owner first."""
    rows = (
        await db.scalars(
            select(OrgRole)
            .where((OrgRole.org_id.is_(None)) | (OrgRole.org_id == org_id))
            .order_by(OrgRole.created_at)
        )
    ).all()
    order = {OWNER_ROLE_ID: 0, ADMIN_ROLE_ID: 1, MEMBER_ROLE_ID: 2}
    return sorted(rows, key=lambda role: (order.get(role.id, 3), role.name.lower()))


async def role_in_org(db: AsyncSession, org_id: UUID, role_id: UUID) -> OrgRole | None:
    """A role the organization may use (built-in or its own), else None (never another org's role)."""
    return await db.scalar(
        select(OrgRole).where(OrgRole.id == role_id, (OrgRole.org_id.is_(None)) | (OrgRole.org_id == org_id))
    )


def may_grant(ctx: OrgContext, role: OrgRole) -> bool:
    """Whether the actor may give `role` to someone: only permissions they hold; owners only by owners."""
    if role.id == OWNER_ROLE_ID:
        return ctx.is_owner
    return set(role.permissions) <= ctx.permissions


async def create_custom_role(
    db: AsyncSession, ctx: OrgContext, name: str, permissions: Iterable[str]
) -> OrgRole:
    """A custom role of the organization, built from permissions the actor holds."""
    _require(ctx, "roles:assign")
    chosen = sorted(set(permissions))
    unknown = [p for p in chosen if p not in PERMISSIONS]
    if unknown:
        raise OrgRuleError(f"Unknown permission: {unknown[0]}.", status=422)
    if not set(chosen) <= ctx.permissions:
        raise OrgRuleError("You cannot grant a permission you do not hold.")
    clean = " ".join(name.split())[:60]
    if not clean:
        raise OrgRuleError("Give the role a name.", status=422)
    key = slug_from_name(clean)[:40]
    if await db.scalar(select(OrgRole.id).where(OrgRole.org_id == ctx.org_id, OrgRole.key == key)):
        raise OrgRuleError("A role with that name exists.", status=409)
    role = OrgRole(org_id=ctx.org_id, key=key, name=clean, permissions=chosen)
    db.add(role)
    await db.flush()
    return role


# --- members


async def _owners(db: AsyncSession, org_id: UUID) -> int:
    count = await db.scalar(
        select(func.count()).where(Membership.org_id == org_id, Membership.role_id == OWNER_ROLE_ID)
    )
    return int(count or 0)


async def _member(db: AsyncSession, org_id: UUID, membership_id: UUID, *, lock: bool = True) -> Membership:
    query = select(Membership).where(Membership.id == membership_id, Membership.org_id == org_id)
    member = await db.scalar(query.with_for_update() if lock else query)
    if member is None:
        raise OrgRuleError("No such member.", status=404)
    return member


async def _lock_org(db: AsyncSession, org_id: UUID) -> None:
    """Serialize changes that count owners, so two demotions at once cannot both pass the check."""
    await db.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


async def change_role(db: AsyncSession, ctx: OrgContext, membership_id: UUID, role_id: UUID) -> Membership:
    """Give a member another role, within the rules above [71]."""
    _require(ctx, "roles:assign")
    await _lock_org(db, ctx.org_id)
    member = await _member(db, ctx.org_id, membership_id)
    if member.user_id == ctx.user_id:
        raise OrgRuleError("You cannot change your own role.")
    role = await role_in_org(db, ctx.org_id, role_id)
    if role is None:
        raise OrgRuleError("No such role.", status=404)
    if member.role_id == OWNER_ROLE_ID and not ctx.is_owner:
        raise OrgRuleError("Only an owner can change an owner's role.")
    if not may_grant(ctx, role):
        raise OrgRuleError("You cannot give a role with permissions you do not hold.")
    if member.role_id == OWNER_ROLE_ID and role.id != OWNER_ROLE_ID and await _owners(db, ctx.org_id) <= 1:
        raise OrgRuleError("An organization needs at least one owner.", status=409)
    member.role_id = role.id
    await db.flush()
    return member


async def remove_member(
    db: AsyncSession, security: Security, ctx: OrgContext, membership_id: UUID
) -> Membership:
    """Remove a member: their access ends at their next request; invitations they sent are revoked [73]."""
    _require(ctx, "members:remove")
    await _lock_org(db, ctx.org_id)
    member = await _member(db, ctx.org_id, membership_id)
    if member.user_id == ctx.user_id:
        raise OrgRuleError("To leave, use “Leave organization”.", status=409)
    if member.role_id == OWNER_ROLE_ID and not ctx.is_owner:
        raise OrgRuleError("Only an owner can remove an owner.")
    if member.role_id == OWNER_ROLE_ID and await _owners(db, ctx.org_id) <= 1:
        raise OrgRuleError("An organization needs at least one owner.", status=409)
    await _end_membership(db, security, ctx.org_id, member, removed=True)
    return member


async def leave_org(db: AsyncSession, security: Security, ctx: OrgContext) -> None:
    """The signed-in person leaves; the last owner cannot (transfer ownership or delete instead)."""
    await _lock_org(db, ctx.org_id)
    member = await _member(db, ctx.org_id, ctx.membership_id)
    if member.role_id == OWNER_ROLE_ID and await _owners(db, ctx.org_id) <= 1:
        raise OrgRuleError(
            "You are the only owner. Make someone else an owner first, or delete the organization.",
            status=409,
        )
    await _end_membership(db, security, ctx.org_id, member, removed=False)


async def _end_membership(
    db: AsyncSession, security: Security, org_id: UUID, member: Membership, *, removed: bool
) -> None:
    from app.auth.core.api_tokens import revoke_on_membership_end  # api_tokens imports this module

    now = security.clock.now()
    await revoke_on_membership_end(db, org_id, member.user_id, now, removed=removed)
    await db.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.org_id == org_id,
            OrgInvitation.invited_by == member.user_id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    for hook in MEMBERSHIP_ENDED_HOOKS:
        await hook(db, org_id, member.user_id)
    await db.delete(member)
    await db.flush()


MEMBERSHIP_ENDED_HOOKS: list[Any] = []
"""Async callables `(db, org_id, user_id)` run when a membership ends (e.g. revoking org API tokens)."""


def _require(ctx: OrgContext, permission: str) -> None:
    if not ctx.can(permission):
        raise OrgRuleError("You do not have permission to do that.")
