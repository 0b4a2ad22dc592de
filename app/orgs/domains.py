"""Verified domains: `/o/<slug>/domains`, and joining an organization by one's address.

The rules (the TXT record, one owner per domain, expiry, who may join and as what) are the
core's (`app.auth.core.domains`, `domain_join`); these handlers show them and word the outcome.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.auth.core.audit_log import audit
from app.auth.core.domain_join import (
    JOIN_MODES,
    eligible_orgs,
    join_by_domain,
    set_domain_join,
)
from app.auth.core.domain_names import display_domain
from app.auth.core.domains import (
    CheckResult,
    add_domain,
    challenge_name,
    challenge_value,
    domain_status,
    domains_of,
    remove_domain,
    verify_domain,
)
from app.auth.core.guards import requires_user
from app.auth.core.landing import NO_STORE
from app.auth.core.orgs import OrgRuleError
from app.auth.core.tenancy import org_of, requires_org_permission
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.auth.routes.common import FormData
from app.db import DBSession
from app.orgs import events
from app.orgs.forms import text, uuid_or_none
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("DomainJoinController", "DomainsController", "domain_offers", "join_on_landing")

FlashKind = Literal["success", "warning", "error"]
CHECK_MESSAGES: dict[CheckResult, tuple[FlashKind, str]] = {
    CheckResult.VERIFIED: ("success", "{domain} is verified."),
    CheckResult.WRONG_VALUE: (
        "error",
        "A TXT record exists at {name}, but it does not hold this organization's value. Check it for typos.",
    ),
    CheckResult.NO_RECORD: ("error", "{name} has no TXT record yet. Add it, then verify again."),
    CheckResult.NO_SUCH_NAME: (
        "error",
        "Nothing is published at {name} yet. New records can take a few minutes to appear.",
    ),
    CheckResult.UNREACHABLE: ("error", "DNS did not answer in time. Nothing changed; try again in a minute."),
    CheckResult.TAKEN: ("error", "Another organization has verified {domain}."),
    CheckResult.EXPIRED: (
        "error",
        "This claim waited too long for its record. Remove the domain and add it again for a new value.",
    ),
    CheckResult.TOO_SOON: ("warning", "{domain} was checked a moment ago. Wait a few seconds."),
}
"""What the person sees after "Verify now", by what the check found."""

MANAGE = requires_org_permission("domains:manage")


class DomainsController(Controller):
    """The organization's domains: list, add, verify, remove, and who may join by them."""

    path = "/o/{org_slug:str}/domains"
    guards = [MANAGE]
    include_in_schema = False

    @get("/", name="org_domains")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Each domain with its status and the record to publish; the add form; the join setting."""
        return await _page(request, db_session)

    @post("/", name="org_domain_add")
    async def add(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Claim a domain; the page then shows the TXT record to publish."""
        org = org_of(request)
        typed = text(data, "domain")[:300]
        try:
            claim = await add_domain(db_session, security_of(request), org, typed)
        except OrgRuleError as exc:
            if exc.status != 422:
                raise
            return await _page(request, db_session, error=exc.reason, typed=typed, status=422)
        await audit(
            db_session,
            request,
            "org.domain.added",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="domain",
            target_id=str(claim.id),
            domain=claim.domain,
        )
        flash(
            request,
            f"{display_domain(claim.domain)} added. Publish the TXT record below, then verify.",
            "success",
        )
        return see_other(request, f"/o/{org.slug}/domains#domain-{claim.id}")

    @post("/{domain_id:uuid}/verify", name="org_domain_verify")
    async def verify(
        self, request: Request[Any, Any, Any], db_session: DBSession, domain_id: FromPath[UUID]
    ) -> Response[Any]:
        """Look for the TXT record now."""
        org = org_of(request)
        check = await verify_domain(db_session, security_of(request), org, domain_id)
        await audit(
            db_session,
            request,
            "org.domain.verified" if check.ok else "org.domain.verification_failed",
            outcome="success" if check.ok else "failure",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="domain",
            target_id=str(check.domain_id),
            domain=check.domain,
            result=check.result.value,
        )
        kind, message = CHECK_MESSAGES[check.result]
        flash(
            request,
            message.format(domain=display_domain(check.domain), name=challenge_name(check.domain)),
            kind,
        )
        return see_other(request, f"/o/{org.slug}/domains#domain-{check.domain_id}")

    @post("/{domain_id:uuid}/remove", name="org_domain_remove")
    async def remove(
        self, request: Request[Any, Any, Any], db_session: DBSession, domain_id: FromPath[UUID]
    ) -> Response[Any]:
        """Remove a domain: nobody joins by it any more (members stay)."""
        org = org_of(request)
        claim = await remove_domain(db_session, org, domain_id)
        await audit(
            db_session,
            request,
            "org.domain.removed",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="domain",
            target_id=str(claim.id),
            domain=claim.domain,
        )
        flash(request, f"{display_domain(claim.domain)} removed.", "success")
        return see_other(request, f"/o/{org.slug}/domains")

    @post("/joining", name="org_domain_joining")
    async def joining(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Who may join by a verified domain: nobody, people who choose to, or everyone at once."""
        org = org_of(request)
        mode = await set_domain_join(db_session, org, text(data, "domain_join"))
        await audit(
            db_session, request, "org.domain_join_changed", actor_id=org.user_id, org_id=org.org_id, mode=mode
        )
        flash(request, "Saved.", "success")
        return see_other(request, f"/o/{org.slug}/domains")


class DomainJoinController(Controller):
    """Joining an organization one is offered because of one's address."""

    guards = [requires_user]
    include_in_schema = False

    @post("/orgs/join", name="org_join_by_domain")
    async def join(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Join as a member, if the core finds the address eligible right now."""
        org_id = uuid_or_none(text(data, "org_id"))
        account = await db_session.get_one(User, request.user.id)
        joined = await join_by_domain(db_session, security_of(request), account, org_id) if org_id else None
        if joined is None:
            raise OrgRuleError("That organization does not take members by address.", status=404)
        await audit(
            db_session,
            request,
            "org.member.joined",
            actor_id=account.id,
            org_id=joined.org_id,
            via="domain",
            domain=joined.domain,
        )
        await _announce_joined(db_session, request, joined.org_id, account.id)
        flash(request, f"Welcome to {joined.name}.", "success")
        return see_other(request, f"/o/{joined.slug}/")


async def _announce_joined(
    db: DBSession, request: Request[Any, Any, Any], org_id: UUID, user_id: UUID
) -> None:
    now = security_of(request).clock.now()
    await events.announce_member(db, request.app.state.settings, org_id, "member.joined", user_id, now)


async def domain_offers(request: Request[Any, Any, Any], db: DBSession) -> list[Any]:
    """Organizations the signed-in person may join by their address (for the organizations list)."""
    account = await db.get_one(User, request.user.id)
    return await eligible_orgs(db, security_of(request), account)


async def join_on_landing(request: Request[Any, Any, Any], db: DBSession) -> None:
    """After sign-in: join the organizations that take this address in automatically, and point
    at the ones that offer it (they are joined from the organizations list)."""
    account = await db.get_one(User, request.user.id)
    security = security_of(request)
    for offer in await eligible_orgs(db, security, account):
        if offer.mode == "offer":
            flash(
                request,
                f"You can join {offer.name}: your address is at {offer.domain_display}. See Organizations.",
            )
            continue
        if await join_by_domain(db, security, account, offer.org_id) is None:
            continue
        await audit(
            db,
            request,
            "org.member.joined",
            actor_id=account.id,
            org_id=offer.org_id,
            via="domain_auto",
            domain=offer.domain,
        )
        await _announce_joined(db, request, offer.org_id, account.id)
        flash(request, f"You joined {offer.name}: your address is at {offer.domain_display}.", "success")


async def _page(
    request: Request[Any, Any, Any], db: DBSession, *, error: str = "", typed: str = "", status: int = 200
) -> Template:
    org = org_of(request)
    security = security_of(request)
    now = security.clock.now()
    rows = [
        {
            "claim": claim,
            "name": display_domain(claim.domain),
            "status": domain_status(security, claim, now).value,
            "record_name": challenge_name(claim.domain),
            "record_value": challenge_value(claim),
        }
        for claim in await domains_of(db, org.org_id)
    ]
    return render(
        request,
        "orgs/domains.html",
        org=org,
        org_section="settings",
        domains=rows,
        join_modes=JOIN_MODES,
        error=error,
        typed=typed,
        policy=security.policy,
        status=status,
        headers=NO_STORE,
    )
