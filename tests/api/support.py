"""Helpers for the API tests: an organization with people in it, and tokens made through the pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Membership, Organization, OrgRole, WebhookDelivery
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, OrgContext, create_org
from app.auth.models import User
from tests.support.accounts import Accounts
from tests.support.web import WebClient

NEW_TOKEN = re.compile(r"data-new-token>(gth_[^<]+)<")


@dataclass
class World:
    """Acme: an owner, an admin and a member; Globex: someone else's organization."""

    acme_id: UUID
    globex_id: UUID
    owner: User
    admin: User
    member: User
    stranger: User


async def build_world(accounts: Accounts, db: AsyncSession) -> World:
    """Acme (owner Olive, admin Ada, member Mia) and Globex (owner Gus)."""
    owner = await accounts.create("olive@example.com")
    admin = await accounts.create("ada@example.com")
    member = await accounts.create("mia@example.com")
    stranger = await accounts.create("gus@example.com")
    acme = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    db.add_all(
        [
            Membership(org_id=acme.id, user_id=admin.id, role_id=ADMIN_ROLE_ID),
            Membership(org_id=acme.id, user_id=member.id, role_id=MEMBER_ROLE_ID),
        ]
    )
    globex = await create_org(db, owner_id=stranger.id, name="Globex", slug="globex")
    await db.commit()
    return World(acme.id, globex.id, owner, admin, member, stranger)


async def create_token(
    web: WebClient,
    *,
    name: str = "script",
    scopes: tuple[str, ...] = (),
    days: int = 90,
    page: str = "/settings/tokens",
) -> str:
    """Make a token through its page (the browser must be signed in with a fresh sudo); its value."""
    await web.get(page)
    response = await web.submit(page, {"name": name, "scopes": list(scopes), "days": str(days)})
    assert response.status_code == 201, response.text[:400]
    match = NEW_TOKEN.search(response.text)
    assert match is not None
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


async def membership(db: AsyncSession, org_id: UUID, user: User) -> Membership:
    """A user's membership row in an organization."""
    row = await db.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user.id)
    )
    assert row is not None
    return row


async def give_role(db: AsyncSession, org_id: UUID, user: User, permissions: list[str]) -> None:
    """Move `user` to a custom role with exactly `permissions`."""
    role = OrgRole(org_id=org_id, key="custom", name="Custom", permissions=permissions)
    db.add(role)
    await db.flush()
    row = await membership(db, org_id, user)
    row.role_id = role.id
    await db.commit()


async def context_for(db: AsyncSession, org_id: UUID, user: User) -> OrgContext:
    """The `OrgContext` a guard would build for `user` in the organization (for calling core flows)."""
    row = await membership(db, org_id, user)
    role = await db.get_one(OrgRole, row.role_id)
    org = await db.get_one(Organization, org_id)
    return OrgContext(
        org_id=org.id,
        slug=org.slug,
        name=org.name,
        personal=org.personal,
        membership_id=row.id,
        user_id=user.id,
        role_id=role.id,
        role_key=role.key,
        role_name=role.name,
        permissions=frozenset(role.permissions),
        require_mfa=org.require_mfa,
        allowed_sign_in=tuple(org.allowed_sign_in),
        session_max_age=org.session_max_age,
        domain_join=org.domain_join,
    )


async def queued(db: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """The webhook deliveries queued so far, oldest first: (event type, the payload's `data`)."""
    rows = (
        await db.execute(
            select(WebhookDelivery.event_type, WebhookDelivery.payload)
            .execution_options(populate_existing=True)
            .order_by(WebhookDelivery.created_at)
        )
    ).all()
    return [(kind, payload["data"]) for kind, payload in rows]
