"""Demo data for a new clone (`make seed`, `litestar seed`) and `litestar users create`.

`seed_demo` makes a lived-in app: confirmed users who sign in with `DEMO_PASSWORD`, two
organizations with a member in every role (and a read-only custom role), pending invitations and
projects. It looks each row up before adding it, so running it again adds nothing: the same rows,
the same ids. It refuses a production environment, where known passwords would be a way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select

from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import record_event
from app.auth.core.identity import canonical_email, normalize_email
from app.auth.core.models import Membership, Organization, OrgInvitation, OrgRole
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, OWNER_ROLE_ID, create_org
from app.auth.core.passwords import check_password_policy
from app.auth.core.tokens import new_token, token_digest
from app.auth.models import User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.toolkit import Security
    from app.settings import Settings

__all__ = ("DEMO_PASSWORD", "SeedRefusedError", "SeedReport", "UserProblemError", "create_user", "seed_demo")

DEMO_PASSWORD = "gatehouse demo password"  # noqa: S105 (public on purpose)
"""Every demo user's password. Known to anyone who reads this file: development data only."""

VIEWER = "viewer"

# (email, display name)
USERS = (
    ("olive@example.com", "Olive Owner"),
    ("adam@example.com", "Adam Admin"),
    ("mia@example.com", "Mia Member"),
    ("vic@example.com", "Vic Viewer"),
    ("gus@example.com", "Gus Globex"),
    ("gina@example.com", "Gina Admin"),
)

# (slug, name, [(email, role key)], [(invited email, role key)], [(project, summary, archived)])
ORGS: tuple[tuple[str, str, list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str, bool]]], ...] = (
    (
        "acme",
        "Acme Corporation",
        [("olive@example.com", "owner"), ("adam@example.com", "admin"), ("mia@example.com", "member"),
         ("vic@example.com", VIEWER)],
        [("newhire@example.com", "member"), ("auditor@example.com", VIEWER)],
        [
            ("Rocket skates", "Self-propelled footwear for pursuit at speed.", False),
            ("Giant magnet", "Attracts anything iron within a hundred metres.", False),
            ("Portable hole", "Fold it up, put it in a pocket, unfold it where a hole is needed.", False),
            ("Earthquake pills", "For the quakes that start small.", False),
            ("Bird seed", "Retired after the field trials.", True),
        ],
    ),
    (
        "globex",
        "Globex",
        [("gus@example.com", "owner"), ("gina@example.com", "admin"), ("olive@example.com", "member")],
        [("intern@example.com", "member")],
        [
            ("Hammock district", "Outdoor seating for the whole campus.", False),
            ("Quarterly planning", "", False),
        ],
    ),
)  # fmt: skip

ROLE_IDS = {"owner": OWNER_ROLE_ID, "admin": ADMIN_ROLE_ID, "member": MEMBER_ROLE_ID}


class SeedRefusedError(Exception):
    """Demo data would be unsafe here (a production environment)."""


class UserProblemError(ValueError):
    """`create_user` cannot make this account (address taken or invalid, password too weak)."""


@dataclass
class SeedReport:
    """What a seed run added (all zero on a second run)."""

    users: int = 0
    orgs: int = 0
    memberships: int = 0
    invitations: int = 0
    projects: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        """Rows added in all."""
        return self.users + self.orgs + self.memberships + self.invitations + self.projects


async def seed_demo(db: AsyncSession, security: Security, settings: Settings) -> SeedReport:
    """Add the demo users, organizations, invitations and projects that are missing; commit."""
    if settings.is_prod:
        raise SeedRefusedError("Demo data has known passwords: refusing to seed when APP_ENV is prod.")
    report = SeedReport()
    users = {email: await _user(db, security, email, name, report) for email, name in USERS}
    for slug, name, members, invited, projects in ORGS:
        owner = users[members[0][0]]
        org = await _org(db, slug, name, owner.id, report)
        viewer = await _viewer_role(db, org.id)
        roles = {**ROLE_IDS, VIEWER: viewer.id}
        for email, role in members[1:]:
            await _membership(db, org.id, users[email].id, roles[role], report)
        for email, role in invited:
            await _invitation(db, security, org.id, email, roles[role], owner.id, report)
        # --- feature: orgs
        creator = next((users[email] for email, role in members if role == "member"), owner)
        for project_name, summary, archived in projects:
            await _project(db, security, org.id, creator.id, project_name, summary, archived, report)
        # --- end feature: orgs
    await db.commit()
    return report


async def create_user(
    db: AsyncSession, security: Security, email: str, password: str, *, confirmed: bool, name: str = ""
) -> User:
    """One account, its password checked against the policy like a registration's; commit."""
    try:
        address = normalize_email(email)
        canonical = canonical_email(address)
    except ValueError as exc:
        raise UserProblemError(str(exc) or "That is not an email address.") from exc
    if await db.scalar(select(User.id).where(User.email_canonical == canonical)):
        raise UserProblemError(f"An account for {address} exists.")
    context = [security.site_name, address.split("@")[0]]  # the words registration refuses too
    problems = check_password_policy(password, policy=security.policy, context_words=context)
    if problems:
        raise UserProblemError(problems[0].message)
    user = User(
        email=address,
        email_canonical=canonical,
        password_hash=await security.hasher.hash(password),
        confirmed_at=security.clock.now() if confirmed else None,
        display_name=name,
    )
    db.add(user)
    await db.commit()
    return user


async def _user(db: AsyncSession, security: Security, email: str, name: str, report: SeedReport) -> User:
    user = await db.scalar(select(User).where(User.email_canonical == canonical_email(email)))
    if user is None:
        user = User(
            email=email,
            email_canonical=canonical_email(email),
            password_hash=await security.hasher.hash(DEMO_PASSWORD),
            confirmed_at=security.clock.now(),
            display_name=name,
        )
        db.add(user)
        await db.flush()
        report.users += 1
    return user


async def _org(db: AsyncSession, slug: str, name: str, owner_id: UUID, report: SeedReport) -> Organization:
    org = await db.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        org = await create_org(db, owner_id=owner_id, name=name, slug=slug)
        report.orgs += 1
        report.memberships += 1
    return org


async def _viewer_role(db: AsyncSession, org_id: UUID) -> OrgRole:
    """A custom role that may read everything and change nothing (no `projects:write`)."""
    role = await db.scalar(select(OrgRole).where(OrgRole.org_id == org_id, OrgRole.key == VIEWER))
    if role is None:
        role = OrgRole(org_id=org_id, key=VIEWER, name="Viewer", permissions=[])
        db.add(role)
        await db.flush()
    return role


async def _membership(
    db: AsyncSession, org_id: UUID, user_id: UUID, role_id: UUID, report: SeedReport
) -> None:
    found = await db.scalar(
        select(Membership.id).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )
    if found is None:
        db.add(Membership(org_id=org_id, user_id=user_id, role_id=role_id))
        await db.flush()
        report.memberships += 1


async def _invitation(
    db: AsyncSession,
    security: Security,
    org_id: UUID,
    email: str,
    role_id: UUID,
    inviter_id: UUID,
    report: SeedReport,
) -> None:
    canonical = canonical_email(email)
    found = await db.scalar(
        select(OrgInvitation.id).where(
            OrgInvitation.org_id == org_id,
            OrgInvitation.email_canonical == canonical,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
    )
    if found is None:
        # The token itself is not kept: these invitations show as pending; "Resend" mails a fresh link.
        db.add(
            OrgInvitation(
                org_id=org_id,
                email=email,
                email_canonical=canonical,
                role_id=role_id,
                token_hash=token_digest(new_token()),
                invited_by=inviter_id,
                expires_at=security.clock.now() + security.policy.invitation_ttl,
            )
        )
        await db.flush()
        report.invitations += 1


# --- feature: orgs
async def _project(
    db: AsyncSession,
    security: Security,
    org_id: UUID,
    creator_id: UUID,
    name: str,
    summary: str,
    archived: bool,
    report: SeedReport,
) -> None:
    from app.projects.models import Project  # the projects example goes with organizations

    if await db.scalar(select(Project.id).where(Project.org_id == org_id, Project.name == name)):
        return
    now = security.clock.now()
    project = Project(
        org_id=org_id,
        name=name,
        summary=summary,
        created_by=creator_id,
        archived_at=now if archived else None,
    )
    db.add(project)
    await db.flush()
    report.projects += 1
    # So the organization's activity and audit log are not empty either.
    record = AuditRecord(
        occurred_at=now,
        action="project.created",
        outcome="success",
        actor_id=str(creator_id),
        org_id=str(org_id),
        target_type="project",
        target_id=str(project.id),
        details={"name": name, "seeded": True},
    )
    await record_event(db, record, max_detail_bytes=security.policy.audit_metadata_max_bytes)


# --- end feature: orgs


def describe(report: SeedReport) -> list[str]:
    """What to tell the person who ran the seed."""
    lines = [
        f"Added {report.users} users, {report.orgs} organizations, {report.memberships} memberships, "
        f"{report.invitations} invitations and {report.projects} projects."
        if report.added
        else "Demo data is already there: nothing added.",
        f"Sign in as any of these with the password {DEMO_PASSWORD!r}:",
    ]
    lines += [f"  {email:<20} {name}" for email, name in USERS]
    lines.append("Organizations: /o/acme/ and /o/globex/")
    return lines
