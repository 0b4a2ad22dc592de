"""The organization pages, through real HTTP: landing, creating, the dashboard, members, settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import AuditEvent, Organization
from tests.orgs.conftest import Acme, Orgs
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def test_signing_in_lands_on_the_dashboard_of_ones_organization(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    response = await accounts.login(web, "mia@example.com")
    assert response.headers["location"] == "/dashboard"
    landing = await web.get("/dashboard", follow_redirects=False)
    assert landing.headers["location"] == "/o/acme/"
    page = await web.get("/o/acme/")
    assert page.status_code == 200
    assert "<bdi>Acme</bdi>" in page.text
    assert "Recent activity" in page.text


async def test_without_an_organization_landing_offers_to_create_one(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create()
    await accounts.login(web)
    landing = await web.get("/dashboard", follow_redirects=False)
    assert landing.headers["location"] == "/orgs/new"


async def test_creating_an_organization_makes_one_the_owner_and_opens_its_dashboard(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web)
    await web.get("/orgs/new")
    response = await web.submit("/orgs/new", {"name": "Globex Corp", "slug": ""})
    assert response.status_code == 303
    assert response.headers["location"] == "/o/globex-corp/"
    page = await web.get("/o/globex-corp/")
    assert page.status_code == 200
    assert "Globex Corp" in page.text
    org = await db.scalar(select(Organization).where(Organization.slug == "globex-corp"))
    assert org is not None
    assert await db.scalar(select(AuditEvent.action).where(AuditEvent.org_id == org.id)) == "org.created"


async def test_a_taken_or_malformed_address_is_explained_next_to_the_field(
    accounts: Accounts, web: WebClient, acme: Acme
) -> None:
    await accounts.login(web, "mia@example.com")
    await web.get("/orgs/new")
    taken = await web.submit("/orgs/new", {"name": "Other", "slug": "acme"})
    assert taken.status_code == 422
    assert "That address is taken" in taken.text
    bad = await web.submit("/orgs/new", {"name": "Other", "slug": "A!"}, htmx=True)
    assert bad.status_code == 422
    assert 'id="new-org-form"' in bad.text
    assert "lowercase" in bad.text


async def test_the_orgs_list_and_the_switcher_show_only_ones_own_organizations(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs
) -> None:
    stranger = await accounts.create("sam@example.com")
    await orgs.create(stranger, "Initech", "initech")
    await accounts.login(web, "mia@example.com")
    for path in ("/orgs", "/orgs/switcher"):
        page = await web.get(path, htmx=path.endswith("switcher"))
        assert "/o/acme/" in page.text
        assert "Initech" not in page.text
        assert "initech" not in page.text


async def test_extra_fields_cannot_choose_the_owner_the_kind_or_the_organization(
    accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, db: AsyncSession
) -> None:
    """Mass assignment [70]: only the declared fields are read."""
    from app.auth.core.models import Membership
    from app.auth.core.orgs import OWNER_ROLE_ID

    stranger = await accounts.create("sam@example.com")
    initech = await orgs.create(stranger, "Initech", "initech")
    await accounts.login(web, "mia@example.com")
    await web.get("/orgs/new")
    extra = {
        "owner_id": str(stranger.id),
        "personal": "true",
        "org_id": str(initech.id),
        "role_id": str(OWNER_ROLE_ID),
    }
    assert (await web.submit("/orgs/new", {"name": "Mine", "slug": "mine", **extra})).status_code == 303
    mine = await db.scalar(select(Organization).where(Organization.slug == "mine"))
    assert mine is not None
    assert not mine.personal
    owners = (await db.scalars(select(Membership.user_id).where(Membership.org_id == mine.id))).all()
    assert owners == [acme.member.id]
    await web.get("/o/acme/members")
    await web.submit("/o/acme/members/leave", {"org_id": str(initech.id)})
    assert await orgs.membership(initech, stranger) is not None  # left Acme, not Initech
    assert await orgs.membership(acme.org, acme.member) is None


async def test_the_welcome_checklist_ticks_off_steps_and_goes_when_all_are_done(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    from app.projects.models import Project

    await accounts.login(web, "olive@example.com")
    page = await web.get("/o/acme/")
    assert 'href="/settings/two-factor"' in page.text  # not done yet
    assert 'href="/o/acme/projects/new"' in page.text
    assert page.text.count('class="done"') == 1  # teammates: Acme has three members
    db.add(Project(org_id=acme.org.id, name="Launch", created_by=acme.owner.id))
    await db.commit()
    assert (await web.get("/o/acme/")).text.count('class="done"') == 2
    await accounts.enrol_totp(acme.owner)
    assert "Get <bdi>Acme</bdi> ready" not in (await web.get("/o/acme/")).text
