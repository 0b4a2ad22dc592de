"""Deleting an organization: closed at once, hidden from lists, purged after the grace, restorable until then."""

from __future__ import annotations

import secrets
from datetime import timedelta

from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.invitations import find_invitation
from app.auth.core.models import ApiToken, AuditEvent, Membership, Organization, OrgInvitation, OrgRole
from app.auth.core.orgs import MEMBER_ROLE_ID, mark_org_deleted, restore_org
from app.auth.core.tokens import token_digest
from app.orgs.services import orgs_of
from app.orgs.tasks import purge_orgs
from app.projects.models import Project
from tests.orgs.conftest import Acme
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def give_acme_things(db: AsyncSession, acme: Acme, clock: FrozenClock) -> None:
    """A project, a custom role, a pending invitation and an organization token."""
    later = clock.now() + timedelta(days=30)
    db.add_all([
        Project(org_id=acme.org.id, name="Rocket"),
        OrgRole(org_id=acme.org.id, key="reviewer", name="Reviewer", permissions=["audit:read"]),
        OrgInvitation(org_id=acme.org.id, email="ivy@example.com", email_canonical="ivy@example.com",
                      role_id=MEMBER_ROLE_ID, token_hash=token_digest("invite-token"), invited_by=acme.owner.id,
                      expires_at=later),
        ApiToken(token_hash=secrets.token_bytes(32), public_id=secrets.token_hex(4), name="CI",
                 org_id=acme.org.id, created_by=acme.owner.id, scopes=["projects:write"], expires_at=later),
    ])  # fmt: skip
    await db.commit()


async def count(db: AsyncSession, model: type, org_id: object) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(model.org_id == org_id)) or 0)  # type: ignore[attr-defined]


async def test_a_deleted_organization_is_closed_hidden_and_unjoinable_until_restored(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, app: Litestar, clock: FrozenClock
) -> None:
    await give_acme_things(db, acme, clock)
    await accounts.login(web, "mia@example.com")
    assert (await web.get("/o/acme/projects", follow_redirects=False)).status_code == 200
    assert await mark_org_deleted(db, acme.org.id, clock.now())
    await db.commit()
    assert (await web.get("/o/acme/projects", follow_redirects=False)).status_code == 404
    assert [o.slug for o in await orgs_of(db, acme.member.id)] == []
    assert await find_invitation(db, app.state.security, "invite-token") is None
    assert await restore_org(db, acme.org.id)
    await db.commit()
    assert (await web.get("/o/acme/projects", follow_redirects=False)).status_code == 200
    assert await find_invitation(db, app.state.security, "invite-token") is not None


async def test_the_purge_removes_it_with_everything_it_owns_after_the_grace_and_only_once(
    acme: Acme, db: AsyncSession, engine: AsyncEngine, app: Litestar, clock: FrozenClock
) -> None:
    await give_acme_things(db, acme, clock)
    await mark_org_deleted(db, acme.org.id, clock.now())
    await db.commit()
    ctx = {"engine": engine, "security": app.state.security}
    clock.advance(app.state.security.policy.org_deletion_grace - timedelta(seconds=1))
    assert await purge_orgs(ctx) == {"purged": 0}
    assert await db.scalar(select(Organization.id).where(Organization.id == acme.org.id)) is not None
    clock.advance(timedelta(seconds=1))
    assert await purge_orgs(ctx) == {"purged": 1}
    assert await db.scalar(select(Organization.id).where(Organization.id == acme.org.id)) is None
    for model in (Membership, Project, OrgRole, OrgInvitation, ApiToken):
        assert await count(db, model, acme.org.id) == 0, model
    assert await purge_orgs(ctx) == {"purged": 0}
    events = (await db.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "org.purged"))).all()
    assert events == [str(acme.org.id)]


async def test_an_organization_that_is_not_deleted_is_never_purged(
    acme: Acme, db: AsyncSession, engine: AsyncEngine, app: Litestar, clock: FrozenClock
) -> None:
    clock.advance(timedelta(days=400))
    assert await purge_orgs({"engine": engine, "security": app.state.security}) == {"purged": 0}
    assert await db.scalar(select(Organization.id).where(Organization.id == acme.org.id)) is not None
