"""Two requests racing on one single-use thing: the outcome is the one the code promises, never a 500.

Each race sends two requests from threads of their own, so they really overlap inside the app (the
test client blocks its caller until a response is complete; see tests/auth/test_magic_link.py).
Overlapping by luck is not enough: a race the scheduler happens to serialise proves nothing. So
the test holds a row lock on the contested row (a `SELECT ... FOR UPDATE` in a transaction of its
own, as a slow concurrent writer would), waits until *both* requests are stuck behind it, and only
then lets go. Both have read the row's old state by then; what happens next is the race itself.

Already covered elsewhere, and not repeated here: two clicks on one sign-in link
(test_magic_link.py), one reset link posted twice with one password and one address change
confirmed twice (test_token_binding.py). The reset race below goes further: two different new
passwords, and which one the account ends up with.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing.transport import TestClientTransport as AppTransport
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent
from app.auth.core.tokens import token_digest
from app.auth.models import AuthSession, RememberToken, User
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

ADA = "ada@example.com"
PROFILE = "/settings/profile"
CODE = re.compile(r"\b(\d{3}) (\d{3})\b")
RESET_LINK = re.compile(r"http://testserver\.local(/reset-password\?token=[A-Za-z0-9_\-]+)")
BOTH_BLOCKED_WITHIN = 10.0  # seconds for both requests to reach the held lock
ANSWERED_WITHIN = 20.0  # seconds for both answers once the lock is let go


# --- sending two requests at once, behind a held row lock -----------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of a race: which browser (its cookies), what to send."""

    browser: WebClient
    method: str
    path: str
    data: dict[str, str] = field(default_factory=dict)


def _send(call: Call, arrivals: list[int], index: int, lock: threading.Lock) -> httpx.Response:
    browser = call.browser
    cookie = "; ".join(f"{name}={value}" for name, value in browser.jar.items())
    headers = {"origin": BASE_URL, "sec-fetch-site": "same-origin", "cookie": cookie}
    kwargs: dict[str, Any] = {"headers": headers}
    if call.method == "POST":
        kwargs["data"] = {"_csrf_token": browser.csrf_token or "", **call.data}
    request = browser.client.build_request(call.method, call.path, **kwargs)
    response = AppTransport(browser.client).handle_request(request)
    response.read()
    response.request = request
    with lock:
        arrivals.append(index)
    return response


async def blocked_on_locks(engine: AsyncEngine) -> int:
    """Backends of this database waiting for a lock (a row lock or the queue behind one)."""
    async with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return int(await conn.scalar(query) or 0)


@dataclass
class Race:
    """The answers, in the order they came back (`arrivals` holds indexes into `calls`)."""

    responses: list[httpx.Response]
    arrivals: list[int]

    def in_arrival_order(self) -> list[httpx.Response]:
        return [self.responses[i] for i in self.arrivals]


async def race(engine: AsyncEngine, lock_rows: str, calls: Sequence[Call]) -> Race:
    """Send `calls` at once while `lock_rows` (a SELECT ... FOR UPDATE) holds them up; let go when
    every one of them is waiting for that lock."""
    arrivals: list[int] = []
    arrivals_lock = threading.Lock()
    async with engine.connect() as holder:
        await holder.begin()
        held = (await holder.execute(text(lock_rows))).all()
        assert held, f"nothing to lock: {lock_rows}"
        sent = asyncio.gather(
            *(asyncio.to_thread(_send, call, arrivals, i, arrivals_lock) for i, call in enumerate(calls))
        )
        try:
            deadline = time.monotonic() + BOTH_BLOCKED_WITHIN
            while (waiting := await blocked_on_locks(engine)) < len(calls):
                if time.monotonic() > deadline or sent.done():
                    pytest.fail(f"only {waiting} of {len(calls)} requests reached the lock")
                await asyncio.sleep(0.02)
        finally:
            await holder.rollback()  # let go: the race is on
    responses = await asyncio.wait_for(sent, ANSWERED_WITHIN)
    return Race(list(responses), arrivals)


def twin_of(browser: WebClient) -> WebClient:
    """A second tab of `browser`: the same cookies and CSRF token."""
    twin = browser.other_browser()
    twin.jar = httpx.Cookies(browser.jar)
    twin.csrf_token = browser.csrf_token
    return twin


def take_cookies(browser: WebClient, responses: Sequence[httpx.Response]) -> None:
    """What the browser's cookie jar does with these answers, in this order."""
    for response in responses:
        browser.jar.extract_cookies(response)


def set_cookie_values(response: httpx.Response, name: str) -> list[str]:
    """The values `response` sets for cookie `name` (empty strings for deletions)."""
    values = []
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            values.append(rest.split(";", 1)[0])
    return values


async def actions(db: AsyncSession) -> list[str]:
    return list((await db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))).all())


async def signed_in(browser: WebClient) -> bool:
    return (await browser.get(PROFILE, follow_redirects=False)).status_code == 200


# --- (a) remember-me restored by two tabs at once ---------------------------------------------------


async def test_two_tabs_restoring_from_remember_me_at_once_rotate_once_and_raise_no_theft_alarm(
    accounts: Accounts, web: WebClient, clock: FrozenClock, engine: AsyncEngine, db: AsyncSession
) -> None:
    ada = await accounts.create(ADA)
    await accounts.login(web, remember="on")
    presented = web.cookies["remember"]
    clock.advance(timedelta(hours=13))  # the session is over; the browser reopens with two tabs

    result = await race(
        engine,
        "SELECT id FROM remember_tokens FOR UPDATE",
        [Call(web, "GET", PROFILE), Call(twin_of(web), "GET", PROFILE)],
    )
    assert [r.status_code for r in result.responses] == [200, 200], "both tabs are signed in"
    rotated = [v for r in result.responses for v in set_cookie_values(r, "remember")]
    assert len(rotated) == 1, f"one rotation, not {len(rotated)}: {rotated}"
    [new_cookie] = rotated
    stored = (await db.scalars(select(RememberToken).where(RememberToken.user_id == ada.id))).one()
    assert stored.validator_hash == token_digest(new_cookie.split(".", 1)[1])
    assert stored.previous_validator_hash == token_digest(presented.split(".", 1)[1])

    for answers in (result.responses, result.responses[::-1]):  # whichever answer comes last
        tab = twin_of(web)
        take_cookies(tab, answers)
        assert tab.cookies["remember"] == new_cookie
    take_cookies(web, result.in_arrival_order())
    assert await signed_in(web)
    remembered = await db.scalar(
        select(func.count()).select_from(AuthSession).where(AuthSession.user_id == ada.id)
    )
    assert remembered == 2, "each tab has its session; none was revoked"

    clock.advance(timedelta(hours=13))  # and the next time the browser comes back
    assert await signed_in(web)
    assert "auth.remember.reuse_detected" not in await actions(db)
    assert await db.scalar(select(func.count()).select_from(RememberToken)) == 1


# --- (b) two sudo submissions at once ----------------------------------------------------------------


async def test_two_sudo_submissions_at_once_leave_one_live_token_which_the_browser_holds(
    accounts: Accounts, web: WebClient, engine: AsyncEngine, db: AsyncSession
) -> None:
    # Both pass: each re-checks the password and gives the session a new token. The second to
    # commit replaces the first one's token, and its answer is the later one, so the browser keeps
    # the token the database has. The first answer's token is dead; nothing else changes.
    ada = await accounts.create(ADA)
    await accounts.login(web)
    before = web.cookies["session"]
    await web.get("/sudo?next=/settings/email")
    form = {"password": DEFAULT_PASSWORD, "next": "/settings/email"}

    result = await race(
        engine,
        "SELECT id FROM auth_sessions FOR UPDATE",
        [Call(web, "POST", "/sudo", form), Call(twin_of(web), "POST", "/sudo", form)],
    )
    assert [(r.status_code, r.headers.get("location")) for r in result.responses] == [
        (303, "/settings/email"),
        (303, "/settings/email"),
    ]
    tokens = [v for r in result.in_arrival_order() for v in set_cookie_values(r, "session")]
    assert len(tokens) == 2
    assert len({before, *tokens}) == 3, "each answer carries a new token"
    [row] = (await db.scalars(select(AuthSession).where(AuthSession.user_id == ada.id))).all()
    assert row.token_hash == token_digest(tokens[-1]), "the later answer's token is the live one"

    for token, live in ((before, False), (tokens[0], False), (tokens[-1], True)):
        probe = web.other_browser()
        probe.jar.set("session", token)
        assert await signed_in(probe) is live

    take_cookies(web, result.in_arrival_order())
    assert web.cookies["session"] == tokens[-1]
    page = await web.get("/settings/email", follow_redirects=False)
    assert page.status_code == 200, "signed in, and within the sudo window"
    assert (await actions(db)).count("auth.sudo.granted") == 2


# --- (c) one confirmation code typed twice at once ------------------------------------------------


async def test_one_confirmation_code_submitted_twice_at_once_confirms_once(
    web: WebClient, mailbox: Mailbox, engine: AsyncEngine, db: AsyncSession
) -> None:
    await web.get("/register")
    registered = await web.submit("/register", {"email": ADA, "password": DEFAULT_PASSWORD})
    assert registered.status_code == 303, registered.text[:300]
    [message] = await mailbox.wait_for(ADA)
    found = CODE.search(message.text_body)
    assert found is not None
    code = found.group(1) + found.group(2)

    result = await race(
        engine,
        "SELECT id FROM email_tokens WHERE used_at IS NULL FOR UPDATE",
        [
            Call(web, "POST", "/register/confirm-code", {"code": code}),
            Call(twin_of(web), "POST", "/register/confirm-code", {"code": code}),
        ],
    )
    outcomes = sorted((r.status_code, r.headers.get("location")) for r in result.responses)
    assert outcomes == [(303, "/dashboard"), (422, None)]
    [refused] = [r for r in result.responses if r.status_code == 422]
    assert "This code has expired or was used up." in refused.text
    assert (await actions(db)).count("auth.email.confirmed") == 1
    assert (await actions(db)).count("auth.login.succeeded") == 1
    user = (await db.scalars(select(User))).one()
    assert user.confirmed_at is not None
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 1

    take_cookies(web, result.in_arrival_order())
    assert await signed_in(web)


# --- (d) one reset link posted twice at once, with two different passwords -----------------------


async def test_one_reset_link_posted_twice_at_once_sets_one_of_the_passwords_once(
    accounts: Accounts, web: WebClient, mailbox: Mailbox, engine: AsyncEngine, db: AsyncSession
) -> None:
    await accounts.create(ADA)
    await web.get("/forgot-password")
    assert (await web.submit("/forgot-password", {"email": ADA})).status_code == 303
    [message] = await mailbox.wait_for(ADA, subject="Reset your Gatehouse password")
    link = RESET_LINK.search(message.text_body)
    assert link is not None
    await web.get(link.group(1))  # the page moves the token from the URL into a cookie
    passwords = ["the first new passphrase 2027", "the second new passphrase 2027"]

    # Both requests check the link (and hash their password) before the lock holds them at the spend.
    result = await race(
        engine,
        "SELECT id FROM email_tokens WHERE used_at IS NULL FOR UPDATE",
        [
            Call(web, "POST", "/reset-password", {"password": passwords[0]}),
            Call(twin_of(web), "POST", "/reset-password", {"password": passwords[1]}),
        ],
    )
    statuses = [r.status_code for r in result.responses]
    assert sorted(statuses) == [303, 410], statuses
    winner = passwords[statuses.index(303)]
    loser = passwords[statuses.index(410)]
    assert "expired or was already used" in result.responses[statuses.index(410)].text

    async def can_sign_in(password: str) -> bool:
        browser = web.other_browser()
        await browser.get("/login")
        answer = await browser.submit("/login", {"email": ADA, "password": password})
        return answer.status_code == 303

    assert await can_sign_in(winner)
    assert not await can_sign_in(loser)
    assert not await can_sign_in(DEFAULT_PASSWORD)
    assert (await actions(db)).count("auth.password_reset.completed") == 1
    changed = "Your Gatehouse password was changed"
    await mailbox.wait_for(ADA, subject=changed)
    await asyncio.sleep(0.3)  # a second notice would have been queued with a second reset
    assert len([m for m in await mailbox.messages(ADA) if m.subject == changed]) == 1
