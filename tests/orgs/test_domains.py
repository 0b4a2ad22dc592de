"""Verified domains through real HTTP and a real DNS server, and joining by one's address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, Membership, Organization, OrgDomain
from app.auth.models import User
from app.settings import Settings
from tests.auth.test_sessions import cost_of
from tests.orgs.conftest import MEMBER_ROLE_ID, Acme, Orgs
from tests.support.accounts import Accounts
from tests.support.database import make_settings
from tests.support.dns_server import DnsServer
from tests.support.web import BASE_URL, WebClient

DOMAIN = "acme-widgets.io"
CHALLENGE = f"_gatehouse-challenge.{DOMAIN}"
VALUE = re.compile(r"gatehouse-verification=[A-Za-z0-9_\-]+")


@pytest.fixture
def dns(dns_server: DnsServer) -> Iterator[DnsServer]:
    """The test DNS server, empty for this test."""
    dns_server.clear()
    yield dns_server
    dns_server.clear()


async def add(web: WebClient, domain: str = DOMAIN, slug: str = "acme") -> None:
    await web.get(f"/o/{slug}/domains")
    response = await web.submit(f"/o/{slug}/domains", {"domain": domain})
    assert response.status_code == 303, response.text[:500]


async def claim_of(db: AsyncSession, org: Organization, domain: str = DOMAIN) -> OrgDomain:
    claim = await db.scalar(
        select(OrgDomain)
        .where(OrgDomain.org_id == org.id, OrgDomain.domain == domain)
        .execution_options(populate_existing=True)
    )
    assert claim is not None
    return claim


async def verify(web: WebClient, claim: OrgDomain, slug: str = "acme") -> str:
    """Press "Verify now"; the page it lands on."""
    response = await web.submit(f"/o/{slug}/domains/{claim.id}/verify")
    assert response.status_code == 303, response.text[:500]
    return (await web.get(response.headers["location"].split("#")[0])).text


def publish(dns: DnsServer, claim: OrgDomain) -> None:
    dns.set_txt(f"_gatehouse-challenge.{claim.domain}", f"gatehouse-verification={claim.verification_token}")


async def verified_domain(
    accounts: Accounts, web: WebClient, db: AsyncSession, dns: DnsServer, org: Organization, mode: str
) -> OrgDomain:
    """`DOMAIN` verified for `org` by its owner (already signed in on `web`), joining set to `mode`."""
    await add(web)
    claim = await claim_of(db, org)
    publish(dns, claim)
    await verify(web, claim)
    response = await web.submit("/o/acme/domains/joining", {"domain_join": mode})
    assert response.status_code == 303
    return await claim_of(db, org)


async def actions(db: AsyncSession) -> list[str]:
    return list((await db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))).all())


# --- adding and verifying


async def test_the_page_shows_the_txt_record_to_publish(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web, "Acme-Widgets.io")
    claim = await claim_of(db, acme.org)
    page = await web.get("/o/acme/domains")
    assert page.status_code == 200
    assert CHALLENGE in page.text
    assert f"gatehouse-verification={claim.verification_token}" in page.text
    assert "Waiting for the record" in page.text
    assert len(claim.verification_token) >= 32
    assert "org.domain.added" in await actions(db)


async def test_a_refused_domain_is_explained_on_the_form(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    await accounts.login(web, "olive@example.com")
    await web.get("/o/acme/domains")
    response = await web.submit("/o/acme/domains", {"domain": "gmail.com"})
    assert response.status_code == 422
    assert "Anyone can have an address at that mail provider" in response.text
    assert 'value="gmail.com"' in response.text


async def test_verify_succeeds_with_the_right_txt_record(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    dns.set_txt(CHALLENGE, "v=spf1 -all", f"gatehouse-verification={claim.verification_token}")
    page = await verify(web, claim)
    assert f"{DOMAIN} is verified." in page
    assert (await claim_of(db, acme.org)).verified_at is not None
    assert CHALLENGE in dns.queries
    assert "org.domain.verified" in await actions(db)


async def test_a_wrong_token_is_a_clear_failure(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    dns.set_txt(CHALLENGE, "gatehouse-verification=not-the-token")
    page = await verify(web, claim)
    assert "does not hold this organization" in page
    assert (await claim_of(db, acme.org)).verified_at is None
    failed = await db.scalar(select(AuditEvent).where(AuditEvent.action == "org.domain.verification_failed"))
    assert failed is not None
    assert failed.outcome == "failure"
    assert failed.details["result"] == "wrong_value"


async def test_the_token_must_match_exactly_not_as_a_prefix(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    dns.set_txt(CHALLENGE, f"gatehouse-verification={claim.verification_token}x")
    await verify(web, claim)
    assert (await claim_of(db, acme.org)).verified_at is None


async def test_a_name_without_txt_records_is_a_clear_failure(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    dns.set_txt(f"deeper.{CHALLENGE}", "something")  # the challenge name exists, with no TXT of its own
    page = await verify(web, claim)
    assert "has no TXT record yet" in page
    assert (await claim_of(db, acme.org)).verified_at is None


async def test_nxdomain_is_a_clear_failure(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    page = await verify(web, claim)
    assert "Nothing is published at" in page
    assert CHALLENGE in dns.queries
    assert (await claim_of(db, acme.org)).verified_at is None


@pytest.fixture
def dns_down_app(database_url: str, db: AsyncSession, clock: FrozenClock) -> Litestar:
    """An app whose nameserver does not answer (a DNS server that was stopped)."""
    gone = DnsServer().start()
    port = gone.port
    gone.stop()
    settings: Settings = make_settings(
        database_url, dns_nameservers=["127.0.0.1"], dns_port=port, dns_timeout=0.5
    )
    return create_app(settings, clock=clock)


async def test_a_dns_server_that_is_down_is_a_clear_failure_and_changes_nothing(
    dns_down_app: Litestar, acme: Acme, db: AsyncSession, clock: FrozenClock
) -> None:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=dns_down_app, base_url=BASE_URL) as client:
        web = WebClient(client)
        accounts = Accounts(db, dns_down_app.state.security)
        await accounts.login(web, "olive@example.com")
        await add(web)
        claim = await claim_of(db, acme.org)
        claim.verified_at = clock.now()  # verified earlier: an outage must not withdraw it
        await db.commit()
        page = await verify(web, claim)
    assert "DNS did not answer in time" in page
    assert (await claim_of(db, acme.org)).verified_at is not None


async def test_a_recheck_that_finds_the_record_gone_withdraws_the_verification(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer, clock: FrozenClock
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    publish(dns, claim)
    await verify(web, claim)
    dns.clear()
    clock.advance(timedelta(minutes=1))
    await verify(web, claim)
    assert (await claim_of(db, acme.org)).verified_at is None


async def test_checks_of_one_domain_are_paced(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    await verify(web, claim)
    publish(dns, claim)
    page = await verify(web, claim)
    assert "was checked a moment ago" in page
    assert dns.queries.count(CHALLENGE) == 1


async def test_a_claim_not_verified_in_time_expires(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer, clock: FrozenClock
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    claim = await claim_of(db, acme.org)
    publish(dns, claim)
    clock.advance(timedelta(days=8))
    await accounts.login(web, "olive@example.com")
    page = await verify(web, claim)
    assert "waited too long for its record" in page
    assert (await claim_of(db, acme.org)).verified_at is None
    assert CHALLENGE not in dns.queries


# --- one owner per domain


async def test_a_domain_another_org_verified_cannot_be_added(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "off")
    gina = await accounts.create("gina@globex.io")
    await orgs.create(gina, "Globex", "globex")
    other = web.other_browser()
    await accounts.login(other, "gina@globex.io")
    await other.get("/o/globex/domains")
    response = await other.submit("/o/globex/domains", {"domain": DOMAIN})
    assert response.status_code == 409
    assert "Another organization has verified that domain" in response.text


async def test_a_domain_another_org_verified_first_cannot_be_verified(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession, dns: DnsServer
) -> None:
    gina = await accounts.create("gina@globex.io")
    globex = await orgs.create(gina, "Globex", "globex")
    other = web.other_browser()
    await accounts.login(other, "gina@globex.io")
    await add(other, slug="globex")  # both claim it while it is nobody's
    globex_claim = await claim_of(db, globex)
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "off")
    # Globex publishes its own record too: it is still refused, the domain has an owner.
    dns.set_txt(CHALLENGE, f"gatehouse-verification={globex_claim.verification_token}")
    page = await verify(other, globex_claim, slug="globex")
    assert "Another organization has verified" in page
    assert (await claim_of(db, globex)).verified_at is None
    assert (await claim_of(db, acme.org)).verified_at is not None


async def test_the_database_refuses_a_second_verified_owner_of_a_domain(
    accounts: Accounts, acme: Acme, orgs: Orgs, db: AsyncSession, clock: FrozenClock
) -> None:
    """The last word when two organizations verify at the same moment: a partial unique index."""
    globex = await orgs.create(await accounts.create("gina@globex.io"), "Globex", "globex")
    db.add(OrgDomain(org_id=acme.org.id, domain=DOMAIN, verification_token="a", verified_at=clock.now()))
    await db.commit()
    db.add(OrgDomain(org_id=globex.id, domain=DOMAIN, verification_token="b"))
    await db.commit()  # an unverified claim on the same domain is fine
    db.add(
        OrgDomain(org_id=globex.id, domain="other-" + DOMAIN, verification_token="c", verified_at=clock.now())
    )
    await db.commit()
    with pytest.raises(IntegrityError):
        await db.execute(
            update(OrgDomain)
            .where(OrgDomain.org_id == globex.id, OrgDomain.domain == DOMAIN)
            .values(verified_at=clock.now())
        )
    await db.rollback()


# --- tenant isolation


async def test_another_orgs_domain_ids_are_not_found(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession, dns: DnsServer
) -> None:
    gina = await accounts.create("gina@globex.io")
    globex = await orgs.create(gina, "Globex", "globex")
    other = web.other_browser()
    await accounts.login(other, "gina@globex.io")
    await add(other, "globex-corp.io", slug="globex")
    theirs = await claim_of(db, globex, "globex-corp.io")
    publish(dns, theirs)
    await accounts.login(web, "olive@example.com")
    await web.get("/o/acme/domains")
    for action in ("verify", "remove"):
        response = await web.submit(f"/o/acme/domains/{theirs.id}/{action}")
        assert response.status_code == 404, action
        assert "globex" not in response.text
    assert "globex-corp.io" not in (await web.get("/o/acme/domains")).text
    untouched = await claim_of(db, globex, "globex-corp.io")
    assert untouched.verified_at is None
    assert untouched.checked_at is None


async def test_removing_a_domain_stops_joining_by_it(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    claim = await verified_domain(accounts, web, db, dns, acme.org, "offer")
    response = await web.submit(f"/o/acme/domains/{claim.id}/remove")
    assert response.status_code == 303
    await accounts.create(f"carl@{DOMAIN}")
    carl = web.other_browser()
    await accounts.login(carl, f"carl@{DOMAIN}")
    assert "You can join" not in (await carl.get("/orgs")).text
    assert "org.domain.removed" in await actions(db)


# --- joining


async def membership(db: AsyncSession, org: Organization, user: User) -> Membership | None:
    return await db.scalar(
        select(Membership)
        .where(Membership.org_id == org.id, Membership.user_id == user.id)
        .execution_options(populate_existing=True)
    )


async def test_a_confirmed_address_is_offered_to_join_and_joins_as_a_member(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "offer")
    carl = await accounts.create(f"carl@{DOMAIN}")
    browser = web.other_browser()
    await accounts.login(browser, carl.email)
    landing = await browser.get("/dashboard", follow_redirects=True)
    assert f"You can join Acme: your address is at {DOMAIN}." in landing.text
    listing = await browser.get("/orgs")
    assert "You can join" in listing.text
    assert f"Your address is at <bdi>{DOMAIN}</bdi>" in listing.text
    assert await membership(db, acme.org, carl) is None  # offered, not joined
    joined = await browser.submit("/orgs/join", {"org_id": str(acme.org.id)})
    assert joined.status_code == 303
    assert joined.headers["location"] == "/o/acme/"
    member = await membership(db, acme.org, carl)
    assert member is not None
    assert member.role_id == MEMBER_ROLE_ID
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "org.member.joined"))
    assert event is not None
    assert event.details["via"] == "domain"
    assert "You can join" not in (await browser.get("/orgs")).text


async def test_auto_mode_joins_a_confirmed_address_when_they_land(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "auto")
    carl = await accounts.create(f"carl@{DOMAIN}")
    browser = web.other_browser()
    await accounts.login(browser, carl.email)
    await browser.get("/dashboard", follow_redirects=False)
    member = await membership(db, acme.org, carl)
    assert member is not None
    assert member.role_id == MEMBER_ROLE_ID


async def test_an_unconfirmed_address_never_joins(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "auto")
    carl = await accounts.create(f"carl@{DOMAIN}", confirmed=False)
    # Signed in before confirming (straight in the database: the app would not sign them in).
    carl.confirmed_at = None
    await db.commit()
    from app.auth.core.domain_join import eligible_orgs, join_automatically, join_by_domain

    security = web_security(web)
    assert await eligible_orgs(db, security, carl) == []
    assert await join_automatically(db, security, carl) == []
    assert await join_by_domain(db, security, carl, acme.org.id) is None
    assert await membership(db, acme.org, carl) is None


def web_security(web: WebClient) -> object:
    return web.client.app.state.security


async def test_off_mode_offers_nothing_and_refuses_a_forged_join(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "off")
    carl = await accounts.create(f"carl@{DOMAIN}")
    browser = web.other_browser()
    await accounts.login(browser, carl.email)
    assert "You can join" not in (await browser.get("/orgs")).text
    response = await browser.submit("/orgs/join", {"org_id": str(acme.org.id)})
    assert response.status_code == 404
    assert await membership(db, acme.org, carl) is None


async def test_an_unverified_domain_lets_nobody_join(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    await web.submit("/o/acme/domains/joining", {"domain_join": "auto"})
    carl = await accounts.create(f"carl@{DOMAIN}")
    browser = web.other_browser()
    await accounts.login(browser, carl.email)
    await browser.get("/dashboard", follow_redirects=False)
    assert "You can join" not in (await browser.get("/orgs")).text
    assert (await browser.submit("/orgs/join", {"org_id": str(acme.org.id)})).status_code == 404
    assert await membership(db, acme.org, carl) is None


async def test_an_address_at_a_subdomain_or_another_domain_does_not_join(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "auto")
    for email in (f"sub@eu.{DOMAIN}", "evil@acme-widgets.io.evil.io", "x@not-acme-widgets.io"):
        person = await accounts.create(email)
        browser = web.other_browser()
        await accounts.login(browser, email)
        await browser.get("/dashboard", follow_redirects=False)
        assert await membership(db, acme.org, person) is None, email


async def test_a_lapsed_verification_lets_nobody_join(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, dns: DnsServer, clock: FrozenClock
) -> None:
    await accounts.login(web, "olive@example.com")
    await verified_domain(accounts, web, db, dns, acme.org, "offer")
    clock.advance(timedelta(days=91))
    carl = await accounts.create(f"carl@{DOMAIN}")
    browser = web.other_browser()
    await accounts.login(browser, carl.email)
    assert "You can join" not in (await browser.get("/orgs")).text
    assert (await browser.submit("/orgs/join", {"org_id": str(acme.org.id)})).status_code == 404
    await accounts.login(web, "olive@example.com")
    assert "Check again" in (await web.get("/o/acme/domains")).text


async def test_members_without_domains_manage_cannot_open_the_page(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    await accounts.login(web, "mia@example.com")
    assert (await web.get("/o/acme/domains")).status_code == 403


# --- cost


async def test_the_list_page_costs_the_same_statements_however_many_domains(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession, app: Litestar
) -> None:
    await accounts.login(web, "olive@example.com")
    await add(web)
    status, few = await cost_of(app, web, "/o/acme/domains")
    assert status == 200
    for n in range(8):
        db.add(OrgDomain(org_id=acme.org.id, domain=f"d{n}.acme-widgets.io", verification_token=f"t{n}"))
    await db.commit()
    status, many = await cost_of(app, web, "/o/acme/domains")
    assert status == 200
    # Session resume, the organization and membership, the domains.
    assert len(many.statements) == len(few.statements) == 3, many.statements
