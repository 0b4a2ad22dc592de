"""The organization rules in the core [71]-[73]: nobody grants what they lack, an owner always
remains, removal revokes what the member started, invitations go to one confirmed address."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.core.clock import FrozenClock
from app.auth.core.invitations import accept_invitation, invite
from app.auth.core.models import Membership, Organization, OrgInvitation, OrgRole
from app.auth.core.orgs import (
    ADMIN_ROLE_ID,
    MEMBER_ROLE_ID,
    OWNER_ROLE_ID,
    InvalidSlugError,
    OrgContext,
    OrgRuleError,
    change_role,
    create_custom_role,
    create_org,
    delete_org,
    leave_org,
    normalize_slug,
    purge_deleted_orgs,
    remove_member,
    rename_slug,
    set_security_policy,
)
from app.auth.core.toolkit import Security
from app.auth.models import User
from tests.support.accounts import Accounts


async def context_of(db: AsyncSession, org_id: UUID, user: User) -> OrgContext:
    """What the guard would load for `user` in the organization (read straight from the tables)."""
    member = await db.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user.id)
    )
    assert member is not None
    role = await db.get_one(OrgRole, member.role_id)
    return OrgContext(
        org_id=org_id,
        slug="acme",
        name="Acme",
        personal=False,
        membership_id=member.id,
        user_id=user.id,
        role_id=role.id,
        role_key=role.key,
        role_name=role.name,
        permissions=frozenset(role.permissions),
        require_mfa=False,
        allowed_sign_in=(),
        session_max_age=None,
        domain_join="off",
    )


async def add_member(db: AsyncSession, org_id: UUID, user: User, role_id: UUID) -> Membership:
    member = Membership(org_id=org_id, user_id=user.id, role_id=role_id)
    db.add(member)
    await db.flush()
    return member


@pytest.fixture
def security(app: Litestar) -> Security:
    return app.state.security


@pytest.fixture
async def acme(accounts: Accounts, db: AsyncSession) -> tuple[UUID, User, User, User]:
    owner = await accounts.create("olive@example.com")
    admin = await accounts.create("adam@example.com")
    member = await accounts.create("mia@example.com")
    org = await create_org(db, owner_id=owner.id, name="Acme", slug="acme")
    await add_member(db, org.id, admin, ADMIN_ROLE_ID)
    await add_member(db, org.id, member, MEMBER_ROLE_ID)
    await db.commit()
    return org.id, owner, admin, member


def test_slugs_are_short_lowercase_and_not_reserved() -> None:
    assert normalize_slug("  Acme-Inc ") == "acme-inc"
    for bad in ("ab", "-acme", "acme-", "ac--me", "acme_inc", "a" * 49, "admin", "ACMÉ"):
        with pytest.raises(InvalidSlugError):
            normalize_slug(bad)


async def test_an_admin_cannot_make_an_owner_nor_grant_what_they_lack(
    acme: tuple[UUID, User, User, User], db: AsyncSession
) -> None:
    org_id, _, admin, member = acme
    ctx = await context_of(db, org_id, admin)
    target = await db.scalar(select(Membership.id).where(Membership.user_id == member.id))
    assert target is not None
    with pytest.raises(OrgRuleError):
        await change_role(db, ctx, target, OWNER_ROLE_ID)
    billing = OrgRole(org_id=org_id, key="billing", name="Billing", permissions=["billing:manage"])
    db.add(billing)
    await db.flush()
    with pytest.raises(OrgRuleError):
        await change_role(db, ctx, target, billing.id)
    with pytest.raises(OrgRuleError):
        await create_custom_role(db, ctx, "Payer", ["billing:manage"])
    await change_role(db, ctx, target, ADMIN_ROLE_ID)  # what they hold, they may give


async def test_nobody_changes_their_own_role(acme: tuple[UUID, User, User, User], db: AsyncSession) -> None:
    org_id, owner, _, _ = acme
    ctx = await context_of(db, org_id, owner)
    with pytest.raises(OrgRuleError):
        await change_role(db, ctx, ctx.membership_id, ADMIN_ROLE_ID)


async def test_the_last_owner_cannot_be_demoted_removed_or_leave(
    acme: tuple[UUID, User, User, User], db: AsyncSession, security: Security, accounts: Accounts
) -> None:
    org_id, owner, _, _ = acme
    ctx = await context_of(db, org_id, owner)
    with pytest.raises(OrgRuleError) as left:
        await leave_org(db, security, ctx)
    assert left.value.status == 409
    second = await add_member(db, org_id, await accounts.create("otto@example.com"), OWNER_ROLE_ID)
    other_ctx = await context_of(db, org_id, await db.get_one(User, second.user_id))
    await change_role(db, other_ctx, ctx.membership_id, ADMIN_ROLE_ID)  # two owners: fine
    with pytest.raises(OrgRuleError) as demoted:
        await change_role(db, other_ctx, other_ctx.membership_id, ADMIN_ROLE_ID)
    assert "own role" in demoted.value.reason


async def test_removing_a_member_revokes_the_invitations_they_sent(
    acme: tuple[UUID, User, User, User], db: AsyncSession, security: Security
) -> None:
    org_id, owner, admin, _ = acme
    admin_ctx = await context_of(db, org_id, admin)
    await invite(db, security, admin_ctx, "newcomer@example.com", MEMBER_ROLE_ID)
    owner_ctx = await context_of(db, org_id, owner)
    await remove_member(db, security, owner_ctx, admin_ctx.membership_id)
    await db.commit()
    assert await db.scalar(select(func.count()).where(Membership.user_id == admin.id)) == 0
    revoked = await db.scalar(select(OrgInvitation.revoked_at))
    assert revoked is not None


async def test_an_invitation_is_accepted_once_by_its_address_only(
    acme: tuple[UUID, User, User, User],
    db: AsyncSession,
    security: Security,
    accounts: Accounts,
    app: Litestar,
) -> None:
    org_id, owner, _, _ = acme
    ctx = await context_of(db, org_id, owner)
    _, token = await invite(db, security, ctx, "Nina@Example.com", MEMBER_ROLE_ID)
    await db.commit()
    carol = await accounts.create("carol@example.com")
    assert (await accept_invitation(db, security, token, carol)).outcome == "wrong_account"
    nina = await accounts.create("nina@example.com")
    sessions = async_sessionmaker(app.state.db_config.get_engine(), expire_on_commit=False)

    async def accept() -> str:
        async with sessions() as session:
            result = await accept_invitation(session, security, token, nina)
            await session.commit()
            return result.outcome

    outcomes = await asyncio.gather(accept(), accept())
    assert sorted(outcomes) == ["gone", "joined"]
    assert await db.scalar(select(func.count()).where(Membership.user_id == nina.id)) == 1
    assert (await accept_invitation(db, security, token, nina)).outcome == "gone"


async def test_an_invitation_dies_after_seven_days_and_with_its_inviters_rights(
    acme: tuple[UUID, User, User, User],
    db: AsyncSession,
    security: Security,
    accounts: Accounts,
    clock: FrozenClock,
) -> None:
    org_id, owner, admin, _ = acme
    admin_ctx = await context_of(db, org_id, admin)
    _, expiring = await invite(db, security, admin_ctx, "late@example.com", MEMBER_ROLE_ID)
    _, demoted = await invite(db, security, admin_ctx, "nina@example.com", ADMIN_ROLE_ID)
    await db.commit()
    owner_ctx = await context_of(db, org_id, owner)
    await change_role(db, owner_ctx, admin_ctx.membership_id, MEMBER_ROLE_ID)
    await db.commit()
    nina = await accounts.create("nina@example.com")
    assert (await accept_invitation(db, security, demoted, nina)).outcome == "inviter_lost_rights"
    late = await accounts.create("late@example.com")
    clock.advance(timedelta(days=7, seconds=1))
    assert (await accept_invitation(db, security, expiring, late)).outcome == "gone"


async def test_a_renamed_slug_stays_reserved_for_its_organization(
    acme: tuple[UUID, User, User, User], db: AsyncSession, accounts: Accounts
) -> None:
    org_id, owner, _, _ = acme
    ctx = await context_of(db, org_id, owner)
    assert await rename_slug(db, ctx, "acme-labs") == "acme-labs"
    other = await accounts.create("eve@example.com")
    with pytest.raises(InvalidSlugError):
        await create_org(db, owner_id=other.id, name="Acme", slug="acme")


async def test_a_security_policy_that_would_shut_out_its_author_is_refused(
    acme: tuple[UUID, User, User, User], db: AsyncSession, security: Security
) -> None:
    org_id, owner, _, _ = acme
    ctx = await context_of(db, org_id, owner)
    with pytest.raises(OrgRuleError) as no_factor:
        await set_security_policy(
            db,
            security,
            ctx,
            require_mfa=True,
            allowed_sign_in=[],
            session_max_age=None,
            actor_has_second_factor=False,
            actor_session_kind="password",
        )
    assert no_factor.value.status == 409
    with pytest.raises(OrgRuleError) as locked_out:
        await set_security_policy(
            db,
            security,
            ctx,
            require_mfa=False,
            allowed_sign_in=["passkey"],
            session_max_age=None,
            actor_has_second_factor=True,
            actor_session_kind="password",
        )
    assert locked_out.value.status == 409
    with pytest.raises(OrgRuleError):
        await set_security_policy(
            db,
            security,
            ctx,
            require_mfa=False,
            allowed_sign_in=["telepathy"],
            session_max_age=None,
            actor_has_second_factor=True,
            actor_session_kind="password",
        )
    with pytest.raises(OrgRuleError):  # only shorter than the app's own limit
        await set_security_policy(
            db,
            security,
            ctx,
            require_mfa=False,
            allowed_sign_in=[],
            session_max_age=10**7,
            actor_has_second_factor=True,
            actor_session_kind="password",
        )
    await set_security_policy(
        db,
        security,
        ctx,
        require_mfa=True,
        allowed_sign_in=["password", "passkey"],
        session_max_age=3600,
        actor_has_second_factor=True,
        actor_session_kind="password",
    )
    org = await db.get_one(Organization, org_id)
    await db.refresh(org)
    assert (org.require_mfa, org.allowed_sign_in, org.session_max_age) == (
        True,
        ["passkey", "password"],
        3600,
    )


async def test_a_member_cannot_set_the_policy_and_only_an_owner_deletes(
    acme: tuple[UUID, User, User, User], db: AsyncSession, security: Security
) -> None:
    org_id, owner, admin, member = acme
    with pytest.raises(OrgRuleError):
        await set_security_policy(
            db,
            security,
            await context_of(db, org_id, member),
            require_mfa=False,
            allowed_sign_in=[],
            session_max_age=None,
            actor_has_second_factor=True,
            actor_session_kind="password",
        )
    with pytest.raises(OrgRuleError):
        await delete_org(db, await context_of(db, org_id, admin))
    custom = await create_custom_role(db, await context_of(db, org_id, owner), "Helper", ["projects:write"])
    await change_role(
        db,
        await context_of(db, org_id, owner),
        (await context_of(db, org_id, member)).membership_id,
        custom.id,
    )
    deleted_at = await delete_org(db, await context_of(db, org_id, owner), now=security.clock.now())
    await db.commit()
    # The purge, once the grace is over, takes the memberships and the custom role still in use.
    await purge_deleted_orgs(
        db, deleted_at + security.policy.org_deletion_grace, security.policy.org_deletion_grace
    )
    await db.commit()
    assert await db.scalar(select(func.count()).where(Membership.org_id == org_id)) == 0
    assert await db.scalar(select(func.count()).where(OrgRole.org_id == org_id)) == 0
