"""Joining an organization by a verified domain.

Each organization chooses (`Organization.domain_join`, set by someone with `domains:manage`):

- `off`: a verified domain lets nobody in by itself (invitations only);
- `offer`: a person whose address is at one of its verified domains is *offered* to join (the
  organizations list and the dashboard show "Join Acme"); they join with one click;
- `auto`: such a person becomes a member the next time they land after signing in.

Whoever joins this way gets the built-in `member` role, never more. Eligibility is decided here
and re-checked at the moment of joining: the account is active and its address is **confirmed**
(an unconfirmed address proves nothing), the address's domain equals (exactly; subdomains do
not count) a domain of the organization whose verification is still fresh
(`domain_status` is VERIFIED), and the person is not a member yet. The organization's own
sign-in policy (two-factor, sign-in methods) still applies on every page after joining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from uuid import UUID

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert

from app.auth.core.domain_names import display_domain
from app.auth.core.models import Membership, Organization, OrgDomain
from app.auth.core.orgs import MEMBER_ROLE_ID, OrgContext, OrgRuleError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.toolkit import Security

__all__ = (
    "JOIN_MODES",
    "DomainOffer",
    "eligible_orgs",
    "join_automatically",
    "join_by_domain",
    "set_domain_join",
)

JOIN_MODES: dict[str, str] = {
    "off": "Only people who are invited",
    "offer": "People with a confirmed address at a verified domain may join as members",
    "auto": "People with a confirmed address at a verified domain join as members when they sign in",
}
"""The choices of `Organization.domain_join`, with what they mean."""


@dataclass(frozen=True)
class DomainOffer:
    """An organization the person may join because of their address's domain."""

    org_id: UUID
    slug: str
    name: str
    domain: str
    mode: Literal["offer", "auto"]

    @property
    def domain_display(self) -> str:
        """The domain as people read it (Unicode)."""
        return display_domain(self.domain)


async def set_domain_join(db: AsyncSession, ctx: OrgContext, mode: str) -> str:
    """Choose who may join by domain (see the module docstring)."""
    if not ctx.can("domains:manage"):
        raise OrgRuleError("You do not have permission to manage domains.")
    if mode not in JOIN_MODES:
        raise OrgRuleError("Choose one of the options.", status=422)
    await db.execute(update(Organization).where(Organization.id == ctx.org_id).values(domain_join=mode))
    return mode


def _address_domain(user: Any) -> str | None:
    """The domain of a confirmed, active account's address; None when the account proves nothing."""
    if user.confirmed_at is None or not user.is_active:
        return None
    return str(user.email_canonical).rpartition("@")[2] or None


async def eligible_orgs(
    db: AsyncSession, security: Security, user: Any, org_id: UUID | None = None
) -> list[DomainOffer]:
    """Organizations `user` may join by domain now (one statement), optionally only `org_id`."""
    domain = _address_domain(user)
    if domain is None:
        return []
    fresh_since = security.clock.now() - security.policy.domain_verification_lifetime
    query = (
        select(
            Organization.id, Organization.slug, Organization.name, OrgDomain.domain, Organization.domain_join
        )
        .join(OrgDomain, OrgDomain.org_id == Organization.id)
        .where(
            OrgDomain.domain == domain,
            OrgDomain.verified_at > fresh_since,
            Organization.domain_join.in_(("offer", "auto")),
            Organization.deleted_at.is_(None),
            ~exists().where(Membership.org_id == Organization.id, Membership.user_id == user.id),
        )
        .order_by(Organization.name)
    )
    if org_id is not None:
        query = query.where(Organization.id == org_id)
    rows = (await db.execute(query)).all()
    return [
        DomainOffer(oid, slug, name, dom, cast(Literal["offer", "auto"], mode))
        for oid, slug, name, dom, mode in rows
    ]


async def join_by_domain(db: AsyncSession, security: Security, user: Any, org_id: UUID) -> DomainOffer | None:
    """Make `user` a member of `org_id` if they are eligible right now; the offer used, else None."""
    offers = await eligible_orgs(db, security, user, org_id)
    if not offers:
        return None
    joined = await db.execute(
        insert(Membership)
        .values(org_id=org_id, user_id=user.id, role_id=MEMBER_ROLE_ID)
        .on_conflict_do_nothing(index_elements=["org_id", "user_id"])
        .returning(Membership.id)
    )
    return offers[0] if joined.first() is not None else None


async def join_automatically(db: AsyncSession, security: Security, user: Any) -> list[DomainOffer]:
    """Join every organization that takes `user` in automatically (`auto`); the ones joined."""
    joined = []
    for offer in await eligible_orgs(db, security, user):
        if offer.mode == "auto" and await join_by_domain(db, security, user, offer.org_id):
            joined.append(offer)
    return joined
