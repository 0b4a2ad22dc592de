"""The app shell around signed-in pages, and what each org list page costs the database."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.models import Membership, Organization
from app.auth.core.orgs import OWNER_ROLE_ID
from app.auth.models import User
from app.formatting import initials, mixed_scripts
from app.settings import Settings
from tests.auth.test_registration import confirmation, register
from tests.auth.test_sessions import cost_of
from tests.orgs.conftest import Acme, Orgs
from tests.support.accounts import Accounts
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

BIDI_NAME = "Alice\u202etxt.exe"


def test_initials_are_letters_only() -> None:
    assert initials("Ada Lovelace") == "AL"
    assert initials("ada.lovelace@example.com") == "AL"
    assert initials("mia@example.com") == "M"
    assert initials(BIDI_NAME) == "AE"  # no control character makes it into the avatar
    assert initials("\u202e") == "?"


def test_mixed_scripts_are_noticed() -> None:
    assert mixed_scripts("p\u0430ypal@example.com")  # with a Cyrillic letter a
    assert not mixed_scripts("paypal@example.com")
    assert not mixed_scripts("Зоя")


async def test_the_account_menu_names_the_person_and_offers_settings_security_and_sign_out(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await db.execute(update(User).where(User.id == acme.member.id).values(display_name="Mia Wong"))
    await db.commit()
    await accounts.login(web, "mia@example.com")
    page = await web.get("/o/acme/")
    header = page.text.split("</header>", 1)[0]
    assert 'aria-label="Account menu for Mia Wong"' in header
    assert '<span class="avatar" aria-hidden="true">MW</span>' in header
    assert "<bdi>Mia Wong</bdi>" in header
    assert "mia@example.com" in header
    for link in ('href="/settings/profile"', 'href="/settings/security"', 'action="/logout"'):
        assert link in header
    assert '<details class="menu compact-menu">' in header  # the phone menu works without JavaScript
    assert "<bdi>Acme</bdi>" in header  # the switcher names the current organization


async def test_a_display_name_with_bidi_controls_is_isolated_wherever_others_see_it(
    accounts: Accounts, web: WebClient, acme: Acme, db: AsyncSession
) -> None:
    await db.execute(update(User).where(User.id == acme.member.id).values(display_name=BIDI_NAME))
    await db.commit()
    await accounts.login(web, "mia@example.com")
    await web.get("/o/acme/members")
    await web.submit("/o/acme/members/leave")  # an event with her as the actor
    olive = web.other_browser()
    await accounts.login(olive, "olive@example.com")
    text = (await olive.get("/o/acme/")).text  # her event in the recent activity
    assert BIDI_NAME in text
    for match in re.finditer(re.escape(BIDI_NAME), text):
        before = text[: match.start()]
        assert before.rfind("<bdi>") > before.rfind("</bdi>")  # inside an open <bdi>
    await db.execute(update(User).where(User.id == acme.admin.id).values(display_name=BIDI_NAME))
    await db.commit()
    text = (await olive.get("/o/acme/members")).text
    assert text.count(BIDI_NAME) >= 3  # the row, the role picker's label, the buttons
    for match in re.finditer(re.escape(BIDI_NAME), text):
        before = text[: match.start()]
        assert before.rfind("<bdi>") > before.rfind("</bdi>")
    text = (await web.get("/orgs")).text  # mia, still signed in, in the shell's account menu
    assert BIDI_NAME in text
    for match in re.finditer(re.escape(BIDI_NAME), text):
        before = text[: match.start()]
        assert before.rfind("<bdi>") > before.rfind("</bdi>") or before.endswith(
            'aria-label="Account menu for '
        )


async def test_a_new_account_gets_its_personal_workspace_and_lands_in_it(
    web: WebClient, mailbox: Mailbox, db: AsyncSession
) -> None:
    await register(web, "ada.lovelace@example.com")
    _, code = await confirmation(mailbox, "ada.lovelace@example.com")
    await web.submit("/register/confirm-code", {"code": code})
    landing = await web.get("/dashboard", follow_redirects=False)
    assert landing.headers["location"] == "/o/ada-lovelace/"
    org = await db.scalar(select(Organization).where(Organization.slug == "ada-lovelace"))
    assert org is not None
    assert org.personal
    assert org.name == "ada.lovelace\u2019s workspace"
    assert await db.scalar(select(Membership.role_id).where(Membership.org_id == org.id)) == OWNER_ROLE_ID
    page = await web.get("/o/ada-lovelace/")
    assert "Get <bdi>ada.lovelace\u2019s workspace</bdi> ready" in page.text


async def test_with_the_setting_off_a_new_account_starts_without_a_workspace(
    settings: Settings, db: AsyncSession, clock: FrozenClock, mailbox: Mailbox
) -> None:
    app = create_app(settings.model_copy(update={"personal_workspace": False}), clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await register(web, "ada@example.com")
        _, code = await confirmation(mailbox, "ada@example.com")
        await web.submit("/register/confirm-code", {"code": code})
        assert (await web.get("/dashboard", follow_redirects=False)).headers["location"] == "/orgs/new"
    assert await db.scalar(select(func.count()).select_from(Organization)) == 0


@pytest.mark.parametrize("path", ["/o/acme/members", "/o/acme/", "/orgs", "/orgs/switcher"])
async def test_org_pages_cost_the_same_however_many_members(
    app: Litestar, accounts: Accounts, web: WebClient, acme: Acme, orgs: Orgs, path: str
) -> None:
    """No N+1: the statements a list page runs do not grow with its rows."""
    await accounts.login(web, "olive@example.com")
    status, small = await cost_of(app, web, path)
    assert status == 200
    for n in range(6):
        user = await accounts.create(f"extra{n}@example.com", password=None)
        await orgs.add(acme.org, user)
        await orgs.add(await orgs.create(user, f"Extra {n}", f"extra-{n}"), acme.owner)
    _, large = await cost_of(app, web, path)
    assert len(large.statements) == len(small.statements), large.statements
    assert len(small.statements) <= 6, small.statements
    assert large.most_at_once <= 2  # the session's connection, and the org guard's own
