"""Sessions: server-side timeouts, the sessions page, revocation, sudo, remember-me, cookie flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.models import AuthSession, RememberToken, User
from app.settings import Settings
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.accounts import sudo as reauthenticate
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient


async def sessions_in_db(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(AuthSession)) or 0)


async def signed_in(web: WebClient) -> bool:
    return (await web.get("/settings/profile", follow_redirects=False)).status_code == 200


async def sudo(web: WebClient, next_path: str = "/settings/sessions") -> None:
    await reauthenticate(web, next_path)


# --- timeouts [20]


async def test_idle_timeout_is_enforced_by_the_server(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=29))
    assert await signed_in(web)
    stale_cookie = web.cookies["session"]
    clock.advance(timedelta(minutes=31))
    assert not await signed_in(web)
    assert await sessions_in_db(db) == 0, "the expired row is deleted"
    replay = web.other_browser()
    replay.cookies.set("session", stale_cookie)
    assert not await signed_in(replay)


async def test_absolute_timeout_ends_even_a_busy_session(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    for _ in range(71):  # every 10 minutes for 11 h 50 min
        clock.advance(timedelta(minutes=10))
        assert await signed_in(web)
    clock.advance(timedelta(minutes=10))  # 12 h
    assert not await signed_in(web)


async def test_the_twenty_first_session_ends_the_oldest(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    browsers = []
    for _ in range(21):
        browser = web.other_browser()
        await accounts.login(browser)
        browsers.append(browser)
        clock.advance(timedelta(minutes=1))
    assert await sessions_in_db(db) == 20
    assert not await signed_in(browsers[0])
    assert await signed_in(browsers[-1])


# --- the sessions page and revocation [22]


async def test_sessions_page_lists_devices_and_marks_this_one(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    phone = web.other_browser()
    await accounts.login(
        phone,
        headers={
            "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"
        },
    )
    await accounts.login(web)
    page = await web.get("/settings/sessions")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.text.count('class="card session"') == 2
    assert page.text.count("This device") == 1
    assert "Mobile Safari on iOS" in page.text


async def test_revoking_another_session_needs_sudo_and_signs_it_out(
    accounts: Accounts, web: WebClient, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop)
    await accounts.login(web)
    other_id = (await db.scalars(select(AuthSession.id).order_by(AuthSession.created_at))).first()
    clock.advance(timedelta(minutes=16))  # the sign-in's own credentials are now too old for sudo
    await web.get("/settings/sessions")
    asked = await web.submit(
        f"/settings/sessions/{other_id}/revoke", headers={"referer": f"{BASE_URL}/settings/sessions"}
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == "/sudo?next=/settings/sessions"
    assert await signed_in(laptop)
    await sudo(web)
    await web.get("/settings/sessions")
    done = await web.submit(f"/settings/sessions/{other_id}/revoke")
    assert done.headers["location"] == "/settings/sessions"
    assert not await signed_in(laptop)
    assert await signed_in(web)


async def test_a_session_of_another_user_cannot_be_revoked(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create("ada@example.com")
    await accounts.create("eve@example.com")
    victim = web.other_browser()
    await accounts.login(victim, "ada@example.com")
    victims_session = (await db.scalars(select(AuthSession.id))).one()
    await accounts.login(web, "eve@example.com")
    await web.get("/settings/sessions")
    response = await web.submit(f"/settings/sessions/{victims_session}/revoke")
    assert response.status_code == 404
    assert await signed_in(victim)


async def test_revoke_all_others_keeps_only_this_device(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    others = [web.other_browser() for _ in range(3)]
    for browser in others:
        await accounts.login(browser)
    await accounts.login(web)
    await web.get("/settings/sessions")
    response = await web.submit("/settings/sessions/revoke-others")
    assert response.headers["location"] == "/settings/sessions"
    assert await sessions_in_db(db) == 1
    assert await signed_in(web)
    for browser in others:
        assert not await signed_in(browser)


# --- sudo [28][29]


async def test_sudo_window_is_fifteen_minutes_and_not_extended_by_activity(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    for _ in range(14):
        clock.advance(timedelta(minutes=1))
        await web.get("/settings/profile")
    await web.get("/settings/sessions")
    allowed = await web.submit("/settings/sessions/revoke-others")
    assert allowed.headers["location"] == "/settings/sessions"
    clock.advance(timedelta(minutes=2))
    refused = await web.submit("/settings/sessions/revoke-others")
    assert refused.headers["location"].startswith("/sudo?next=")


async def test_htmx_request_past_the_sudo_window_gets_hx_redirect_not_a_form(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    await web.get("/settings/sessions")
    response = await web.submit(
        "/settings/sessions/revoke-others",
        htmx=True,
        headers={"hx-current-url": f"{BASE_URL}/settings/sessions"},
    )
    assert response.headers["hx-redirect"] == "/sudo?next=/settings/sessions"
    assert "<form" not in response.text


async def test_sudo_rotates_the_session_and_the_old_cookie_has_no_sudo(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    before = web.cookies["session"]
    await sudo(web)
    assert web.cookies["session"] != before
    copy = web.other_browser()
    copy.cookies.set("session", before)
    assert not await signed_in(copy), "the pre-sudo token is gone, not merely unprivileged"


async def test_wrong_password_on_the_sudo_page_is_refused(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    await web.get("/sudo?next=/settings/sessions")
    response = await web.submit("/sudo", {"password": "not my password", "next": "/settings/sessions"})
    assert response.status_code == 422
    assert "That password is not right." in response.text


# --- remember-me [26]


async def test_remember_me_restores_a_session_and_rotates_its_cookie(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    first_remember = web.cookies["remember"]
    clock.advance(timedelta(hours=13))  # the session itself is long dead
    assert await signed_in(web)
    assert web.cookies["remember"] != first_remember
    kinds = (await db.scalars(select(AuthSession.kind))).all()
    assert "remembered" in kinds


async def test_replaying_an_old_remember_cookie_revokes_all_of_them(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    stolen = web.cookies["remember"]
    clock.advance(timedelta(hours=13))
    assert await signed_in(web)  # the owner's visit rotates the validator
    clock.advance(timedelta(minutes=1))
    thief = web.other_browser()
    thief.cookies.set("remember", stolen)
    assert not await signed_in(thief)
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0


async def test_remember_me_ends_after_thirty_days(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    clock.advance(timedelta(days=30, seconds=1))
    assert not await signed_in(web)


async def test_a_remembered_session_never_counts_as_fresh_for_sudo(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    clock.advance(timedelta(hours=13))
    assert await signed_in(web)
    await web.get("/settings/sessions")
    response = await web.submit("/settings/sessions/revoke-others")
    assert response.headers["location"].startswith("/sudo?next=")


async def test_signing_out_forgets_the_remember_cookie_too(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    await accounts.login(web, remember="on")
    await web.submit("/logout")
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0


# --- cookies [19]


@pytest.fixture
async def secure_web(settings: Settings, db: AsyncSession, clock: FrozenClock) -> WebClient:
    """A client of an app that sets production cookies (over https)."""
    app = create_app(
        settings.model_copy(update={"secure_cookies": True, "base_url": "https://testserver.local"}),
        clock=clock,
    )
    client = AsyncTestClient(app=app, base_url="https://testserver.local")
    await client.__aenter__()
    web = WebClient(client)
    yield web  # type: ignore[misc]
    await client.__aexit__(None, None, None)


async def test_every_cookie_has_the_production_flags(
    secure_web: WebClient, db: AsyncSession, mailbox: Mailbox
) -> None:
    """Walk every journey that sets a cookie and check each Set-Cookie header [19]."""
    web = secure_web
    from tests.support.accounts import Accounts as Factory

    origin = {"origin": "https://testserver.local"}
    factory = Factory(db=db, security=web.client.app.state.security)
    await factory.create()
    headers: list[str] = []

    async def collect(response: object) -> None:
        headers.extend(response.headers.get_list("set-cookie"))  # type: ignore[attr-defined]

    await collect(await web.get("/login"))
    await collect(await web.submit("/theme", {"theme": "dark", "next": "/"}, headers=origin))
    await collect(await web.get("/register"))
    await collect(
        await web.submit(
            "/register", {"email": "new@example.com", "password": DEFAULT_PASSWORD}, headers=origin
        )
    )
    [mail] = await mailbox.wait_for("new@example.com")
    link = mail.text_body.split("https://testserver.local", 1)[1].split()[0]
    await collect(await web.get(link, follow_redirects=False))
    await collect(await web.submit("/confirm-email", headers=origin))  # session, flash; clears pending, link
    await collect(await web.submit("/logout", headers=origin))
    await web.get("/login")
    await collect(
        await web.submit(
            "/login",
            {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "remember": "on"},
            headers=origin,
        )
    )
    names = set()
    for header in headers:
        cookie = SimpleCookie()
        cookie.load(header)
        [(name, morsel)] = cookie.items()
        names.add(name)
        assert name.startswith("__Host-"), header
        assert morsel["secure"], header
        assert morsel["path"] == "/", header
        assert not morsel["domain"], header
        assert morsel["samesite"].lower() == "lax", header
        assert morsel["httponly"], header
        if name == "__Host-session" and morsel.value:
            assert not morsel["max-age"], "the session cookie ends with the browser"
        assert len(header) < 4096
    expected = {"__Host-session", "__Host-remember", "__Host-csrftoken", "__Host-pending", "__Host-link"}
    assert expected | {"__Host-flash", "__Host-theme"} <= names


# --- cost of an authenticated page


@dataclass
class Cost:
    """What one request cost the database: statements run, pool connections taken, most at once."""

    statements: list[str] = field(default_factory=list)
    checkouts: int = 0
    most_at_once: int = 0
    _open: int = 0


async def cost_of(app: Litestar, web: WebClient, path: str) -> tuple[int, Cost]:
    """Load `path` once (after a warm-up) and measure what it cost."""
    await web.get(path)  # warm up: pool connection, prepared statements
    engine = app.state.db_config.get_engine().sync_engine
    cost = Cost()

    def on_statement(conn: object, cursor: object, statement: str, *args: object) -> None:
        cost.statements.append(statement)

    def on_checkout(*_: object) -> None:
        cost.checkouts += 1
        cost._open += 1
        cost.most_at_once = max(cost.most_at_once, cost._open)

    def on_checkin(*_: object) -> None:
        cost._open -= 1

    listeners = (
        (engine, "before_cursor_execute", on_statement),
        (engine.pool, "checkout", on_checkout),
        (engine.pool, "checkin", on_checkin),
    )
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        response = await web.get(path)
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
    return response.status_code, cost


async def test_an_authenticated_page_costs_one_statement_on_one_connection(
    accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await accounts.create()
    await accounts.login(web)
    status, cost = await cost_of(app, web, "/settings/profile")
    assert status == 200
    assert len(cost.statements) == 1, cost.statements
    assert cost.most_at_once == 1
    [resume] = cost.statements
    assert "JOIN users" in resume, "session and user come back in one query"
    # Only what a request uses: never the password hash itself, nor whole rows.
    assert "users.password_hash IS NOT NULL" in resume
    assert "users.password_hash," not in resume
    assert "auth_sessions.user_agent" not in resume


async def test_the_sessions_page_adds_one_statement_however_many_sessions(
    accounts: Accounts, web: WebClient, app: Litestar
) -> None:
    await accounts.create()
    for _ in range(4):
        await accounts.login(web.other_browser())
    await accounts.login(web)
    status, cost = await cost_of(app, web, "/settings/sessions")
    assert status == 200
    assert len(cost.statements) == 2, cost.statements  # resume, then the list: no query per session
    assert cost.most_at_once == 1


async def test_signing_out_a_remembered_browser_also_forgets_it(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop, remember="on")
    await accounts.login(web)
    await web.get("/settings/sessions")
    await web.submit("/settings/sessions/revoke-others")
    assert not await signed_in(laptop), "the remember-me cookie must not sign it straight back in"
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0


async def test_sudo_restarts_the_absolute_timeout_too(
    accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create()
    await accounts.login(web)
    for _ in range(66):  # 11 hours of activity
        clock.advance(timedelta(minutes=10))
        assert await signed_in(web)
    await sudo(web)
    for _ in range(12):  # two more hours: past the original 12 h
        clock.advance(timedelta(minutes=10))
        assert await signed_in(web)


async def test_a_stolen_remember_cookie_ends_the_sessions_it_restored(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    from app.auth.core.models import AuditEvent

    await accounts.create()
    await accounts.login(web, remember="on")
    stolen = web.cookies["remember"]
    clock.advance(timedelta(hours=13))
    thief = web.other_browser()
    thief.cookies.set("remember", stolen)
    assert await signed_in(thief)  # the thief is first: the copy still works once
    clock.advance(timedelta(minutes=1))
    assert not await signed_in(web)  # the owner presents the now-old validator: theft is detected
    assert not await signed_in(thief), "the session the thief restored is ended too"
    actions = (await db.scalars(select(AuditEvent.action))).all()
    assert "auth.remember.reuse_detected" in actions


async def test_policy_overrides_from_settings_apply(
    settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    from tests.support.accounts import Accounts as Factory

    custom = settings.model_copy(update={"security_policy": {"session_idle_timeout": 600}})
    app = create_app(custom, clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        factory = Factory(db=db, security=app.state.security)
        await factory.create()
        await factory.login(web)
        clock.advance(timedelta(minutes=11))
        assert not await signed_in(web)


def test_policy_overrides_below_the_floor_stop_the_app(settings: Settings) -> None:
    from app.auth.core.policy import PolicyError

    with pytest.raises(PolicyError):
        create_app(settings.model_copy(update={"security_policy": {"password_min_length": 6}}))


async def test_signing_out_one_remembered_browser_forgets_it(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop, remember="on")
    await accounts.login(web)
    laptop_session = (await db.scalars(select(AuthSession.id).order_by(AuthSession.created_at))).first()
    await web.get("/settings/sessions")
    await web.submit(f"/settings/sessions/{laptop_session}/revoke")
    assert not await signed_in(laptop)


async def test_sign_out_everywhere_else_reaches_remembered_browsers_whose_session_ended(
    accounts: Accounts, web: WebClient, clock: FrozenClock, engine: object
) -> None:
    from app.auth.core.maintenance import purge_expired_rows

    await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop, remember="on")
    clock.advance(timedelta(hours=1))
    await purge_expired_rows(engine, clock)  # the laptop's idle session is gone; its remember-me token stays
    await accounts.login(web)
    await web.get("/settings/sessions")
    await web.submit("/settings/sessions/revoke-others")
    assert not await signed_in(laptop)


@pytest.mark.needs_features("magic_link")
async def test_a_session_begun_by_a_mailed_link_does_not_count_for_sudo(
    accounts: Accounts, web: WebClient, mailbox: Mailbox
) -> None:
    import re

    await accounts.create()
    await web.get("/login/email")
    await web.submit("/login/email", {"email": "ada@example.com"})
    [mail] = await mailbox.wait_for("ada@example.com")
    link = re.search(r"http://testserver\.local(/login/email/link\?token=\S+)", mail.text_body).group(1)  # type: ignore[union-attr]
    await web.get(link)
    assert (await web.submit("/login/email/link")).status_code == 303
    await web.get("/settings/sessions")
    response = await web.submit("/settings/sessions/revoke-others")
    assert response.headers["location"].startswith("/sudo?next=")


async def test_deactivating_an_account_ends_its_live_sessions_and_remembered_browsers(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web, remember="on")
    laptop = web.other_browser()
    await accounts.login(laptop)
    assert await signed_in(web)
    assert await signed_in(laptop)

    await db.execute(update(User).where(User.id == user.id).values(is_active=False))
    await db.commit()

    # The very next request of each browser is signed out: the session and the remember cookie
    # are refused and deleted, not just ignored.
    assert not await signed_in(web)
    assert not await signed_in(laptop)
    assert await sessions_in_db(db) == 0
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 0

    # Switching the account back on does not revive the old cookies.
    await db.execute(update(User).where(User.id == user.id).values(is_active=True))
    await db.commit()
    assert not await signed_in(web)
