"""Organizations for the page tests: made through the core, signed in through the real form."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Membership, Organization
from app.auth.core.orgs import ADMIN_ROLE_ID, MEMBER_ROLE_ID, OWNER_ROLE_ID, create_org
from app.auth.models import User
from tests.support.accounts import Accounts


@dataclass
class Orgs:
    """Make organizations and members straight in the database."""

    db: AsyncSession

    async def create(self, owner: User, name: str = "Acme", slug: str = "acme") -> Organization:
        """An organization with `owner` as its owner."""
        org = await create_org(self.db, owner_id=owner.id, name=name, slug=slug)
        await self.db.commit()
        return org

    async def add(self, org: Organization, user: User, role_id: UUID = MEMBER_ROLE_ID) -> Membership:
        """Make `user` a member of `org` with `role_id`."""
        member = Membership(org_id=org.id, user_id=user.id, role_id=role_id)
        self.db.add(member)
        await self.db.commit()
        return member

    async def membership(self, org: Organization, user: User) -> Membership | None:
        """`user`'s membership of `org`, read fresh."""
        return await self.db.scalar(
            select(Membership)
            .where(Membership.org_id == org.id, Membership.user_id == user.id)
            .execution_options(populate_existing=True)
        )


@pytest.fixture
def orgs(db: AsyncSession) -> Orgs:
    """Organization factory."""
    return Orgs(db)


@dataclass
class Acme:
    """One organization with an owner, an admin and a member (all with the default password)."""

    org: Organization
    owner: User
    admin: User
    member: User


@pytest.fixture
async def acme(accounts: Accounts, orgs: Orgs) -> Acme:
    """Acme: olive (owner), adam (admin), mia (member)."""
    owner = await accounts.create("olive@example.com")
    admin = await accounts.create("adam@example.com")
    member = await accounts.create("mia@example.com")
    org = await orgs.create(owner)
    await orgs.add(org, admin, ADMIN_ROLE_ID)
    await orgs.add(org, member, MEMBER_ROLE_ID)
    return Acme(org, owner, admin, member)


__all__ = ("ADMIN_ROLE_ID", "MEMBER_ROLE_ID", "OWNER_ROLE_ID", "Acme", "Orgs")
