"""Verified domains: an organization proves it controls a domain with a DNS TXT record.

Method. Adding `acme.com` gives the organization a random token (`secrets.token_urlsafe(24)`,
192 bits) and asks for one TXT record::

    _gatehouse-challenge.acme.com.  TXT  "gatehouse-verification=<token>"

"Verify" looks the name up with a real resolver (`dnspython`; the nameservers and port come from
settings, so tests point it at a local DNS server) and succeeds only when one of the TXT records
is exactly that value (constant-time compare). DNS is chosen over "mail a link to someone at the
domain" because only whoever runs the domain's DNS can publish the record, where any one
employee with a mailbox could click a link; it is also what SSO connections will need later.

Rules, each enforced here:

- **One owner per domain.** A domain another organization has verified cannot be added or
  verified (a partial unique index on verified domains is the last word when two race).
- **Proof expires.** A claim must be verified within `domain_challenge_ttl`, after which it has to
  be added again (with a new token). A verification holds for `domain_verification_lifetime`
  after the last successful check; "Verify now" re-checks and renews it. A check that finds the
  record gone (or the name gone) withdraws the verification at once; a check that cannot reach
  DNS changes nothing.
- **Checks are paced**: one per domain per `domain_check_min_interval`, so the page cannot be
  used to hammer a nameserver; at most `domains_per_org` domains per organization.

A check holds the request's connection (and the claim's row lock) while DNS answers, at most
`Security.dns_timeout`; it is paced per domain and needs `domains:manage`, so it stays rare.

Joining by domain is in `app.auth.core.domain_join`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

import dns.asyncresolver
import dns.exception
import dns.resolver
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.core.domain_names import InvalidDomain, normalize_domain
from app.auth.core.models import OrgDomain
from app.auth.core.orgs import OrgContext, OrgRuleError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.toolkit import Security

__all__ = (
    "CHALLENGE_LABEL",
    "RECORD_PREFIX",
    "CheckResult",
    "DomainStatus",
    "Verification",
    "add_domain",
    "challenge_name",
    "challenge_value",
    "domain_status",
    "domains_of",
    "lookup_txt",
    "remove_domain",
    "verify_domain",
)

CHALLENGE_LABEL = "_gatehouse-challenge"
"""The label in front of the domain where the TXT record lives (underscore: never a host name)."""
RECORD_PREFIX = "gatehouse-verification="
"""What the record's value starts with; the token follows."""


class CheckResult(StrEnum):
    """What one verification check found."""

    VERIFIED = "verified"
    WRONG_VALUE = "wrong_value"
    """TXT records exist at the name, but none holds this organization's token."""
    NO_RECORD = "no_record"
    """The name exists but has no TXT record."""
    NO_SUCH_NAME = "no_such_name"
    """NXDOMAIN: nothing is published at the name (or the domain does not exist)."""
    UNREACHABLE = "unreachable"
    """DNS did not answer in time (or answered with an error): nothing was learnt."""
    TAKEN = "taken"
    """Another organization verified the domain first."""
    EXPIRED = "expired"
    """The claim was not verified within `domain_challenge_ttl`: add the domain again."""
    TOO_SOON = "too_soon"
    """Checked moments ago: wait `domain_check_min_interval`."""


class DomainStatus(StrEnum):
    """Where a domain of the organization stands, as its page shows it."""

    PENDING = "pending"
    VERIFIED = "verified"
    LAPSED = "lapsed"
    """Was verified, but not re-checked within `domain_verification_lifetime`."""
    EXPIRED = "expired"


def challenge_name(domain: str) -> str:
    """The DNS name the TXT record goes at."""
    return f"{CHALLENGE_LABEL}.{domain}"


def challenge_value(claim: OrgDomain) -> str:
    """The TXT record's value for a claim."""
    return f"{RECORD_PREFIX}{claim.verification_token}"


def domain_status(security: Security, claim: OrgDomain, now: datetime | None = None) -> DomainStatus:
    """Whether the claim is verified (and still fresh), pending, lapsed or expired."""
    now = now or security.clock.now()
    policy = security.policy
    if claim.verified_at is not None:
        fresh = claim.verified_at > now - policy.domain_verification_lifetime
        return DomainStatus.VERIFIED if fresh else DomainStatus.LAPSED
    if claim.created_at <= now - policy.domain_challenge_ttl:
        return DomainStatus.EXPIRED
    return DomainStatus.PENDING


async def domains_of(db: AsyncSession, org_id: UUID) -> list[OrgDomain]:
    """The organization's domains, alphabetically (one statement)."""
    return list(
        (
            await db.scalars(select(OrgDomain).where(OrgDomain.org_id == org_id).order_by(OrgDomain.domain))
        ).all()
    )


async def _verified_elsewhere(db: AsyncSession, domain: str, org_id: UUID) -> bool:
    found = await db.scalar(
        select(OrgDomain.id).where(
            OrgDomain.domain == domain, OrgDomain.org_id != org_id, OrgDomain.verified_at.is_not(None)
        )
    )
    return found is not None


async def add_domain(db: AsyncSession, security: Security, ctx: OrgContext, typed: str) -> OrgDomain:
    """Claim a domain for the organization; it stays unverified until its TXT record is found."""
    _require(ctx)
    try:
        domain = normalize_domain(typed)
    except InvalidDomain as exc:
        raise OrgRuleError(str(exc), status=422) from exc
    count = await db.scalar(select(func.count()).where(OrgDomain.org_id == ctx.org_id))
    if int(count or 0) >= security.policy.domains_per_org:
        raise OrgRuleError(
            f"An organization can have at most {security.policy.domains_per_org} domains.", status=429
        )
    if await db.scalar(
        select(OrgDomain.id).where(OrgDomain.org_id == ctx.org_id, OrgDomain.domain == domain)
    ):
        raise OrgRuleError("This organization has that domain already.", status=409)
    if await _verified_elsewhere(db, domain, ctx.org_id):
        raise OrgRuleError("Another organization has verified that domain.", status=409)
    claim = OrgDomain(org_id=ctx.org_id, domain=domain, verification_token=secrets.token_urlsafe(24))
    db.add(claim)
    await db.flush()
    return claim


async def _claim(db: AsyncSession, ctx: OrgContext, domain_id: UUID) -> OrgDomain:
    claim = await db.scalar(
        select(OrgDomain).where(OrgDomain.id == domain_id, OrgDomain.org_id == ctx.org_id).with_for_update()
    )
    if claim is None:
        raise OrgRuleError("No such domain.", status=404)
    return claim


async def remove_domain(db: AsyncSession, ctx: OrgContext, domain_id: UUID) -> OrgDomain:
    """Remove a domain of the organization (joining by it stops at once; members stay members)."""
    _require(ctx)
    claim = await _claim(db, ctx, domain_id)
    await db.execute(delete(OrgDomain).where(OrgDomain.id == claim.id))
    return claim


@dataclass(frozen=True)
class Verification:
    """A check's outcome, and which domain it was about."""

    result: CheckResult
    domain_id: UUID
    domain: str

    @property
    def ok(self) -> bool:
        """Whether the record was found (the domain is verified now)."""
        return self.result is CheckResult.VERIFIED


async def verify_domain(
    db: AsyncSession, security: Security, ctx: OrgContext, domain_id: UUID
) -> Verification:
    """Look for the claim's TXT record now and record what was found."""
    _require(ctx)
    claim = await _claim(db, ctx, domain_id)
    now = security.clock.now()
    policy = security.policy

    def outcome(result: CheckResult) -> Verification:
        return Verification(result, claim.id, claim.domain)

    if claim.checked_at is not None and claim.checked_at > now - policy.domain_check_min_interval:
        return outcome(CheckResult.TOO_SOON)
    if domain_status(security, claim, now) is DomainStatus.EXPIRED:
        return outcome(CheckResult.EXPIRED)
    if await _verified_elsewhere(db, claim.domain, ctx.org_id):
        return outcome(CheckResult.TAKEN)
    found = outcome(await lookup_txt(security, claim.domain, challenge_value(claim)))
    values: dict[str, datetime | None] = {"checked_at": now}
    if found.ok:
        values["verified_at"] = now
    elif found.result is not CheckResult.UNREACHABLE:
        values["verified_at"] = None  # the proof is gone: the verification goes with it
    try:
        async with db.begin_nested():
            await db.execute(update(OrgDomain).where(OrgDomain.id == claim.id).values(**values))
    except IntegrityError:  # another organization verified it between our check and now
        return Verification(CheckResult.TAKEN, found.domain_id, found.domain)
    return found


async def lookup_txt(security: Security, domain: str, expected: str) -> CheckResult:
    """Ask DNS for the TXT records at the challenge name and compare each with `expected`."""
    resolver = dns.asyncresolver.Resolver(configure=not security.dns_nameservers)
    if security.dns_nameservers:
        resolver.nameservers = list(security.dns_nameservers)
    resolver.port = security.dns_port
    resolver.lifetime = security.dns_timeout
    resolver.timeout = security.dns_timeout
    try:
        answer = await resolver.resolve(challenge_name(domain), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return CheckResult.NO_SUCH_NAME
    except dns.resolver.NoAnswer:
        return CheckResult.NO_RECORD
    except (dns.exception.DNSException, OSError):  # timeout, refused, SERVFAIL: nothing learnt
        return CheckResult.UNREACHABLE
    wanted = expected.encode()
    # A TXT record may be split into several strings of at most 255 bytes: they form one value.
    values = [b"".join(record.strings) for record in answer]
    matches = [hmac.compare_digest(value, wanted) for value in values]
    return CheckResult.VERIFIED if any(matches) else CheckResult.WRONG_VALUE


def _require(ctx: OrgContext) -> None:
    if not ctx.can("domains:manage"):
        raise OrgRuleError("You do not have permission to manage domains.")
