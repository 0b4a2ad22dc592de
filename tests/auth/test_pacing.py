"""Requirements 30 and 35: a known address answers no slower than an unknown one.

The address forms are paced (`app/auth/core/pacing.py`): each answer leaves no sooner than the policy's
`address_form_min_duration` after the request reached its route, commit and job queueing included.
The tests use 300 ms so they stay quick; the default is 400 ms.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.core.pacing import hold_paced_answer
from app.settings import Settings
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.web import BASE_URL, WebClient

FLOOR = 0.3
SAMPLES = 4
# The paced answers all wait for the same deadline, so what is left is timer and scheduling noise.
TOLERANCE = 0.015

FORMS = {
    # form: (its page, which is also where it posts; the address field)
    "password reset": ("/forgot-password", "email"),
    "sign-in link": ("/login/email", "email"),
    "registration": ("/register", "email"),
}


@pytest.fixture
def paced_app(settings: Settings, db: AsyncSession, clock: FrozenClock) -> Litestar:
    paced = settings.model_copy(update={"security_policy": {"address_form_min_duration": FLOOR}})
    return create_app(paced, clock=clock)


async def timed_submit(web: WebClient, path: str, data: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await web.submit(path, data)
    assert response.status_code == 303, response.text[:300]
    return time.perf_counter() - started


def assert_indistinguishable(known: list[float], unknown: list[float]) -> None:
    assert min(known + unknown) >= FLOOR, "every answer waits for the floor"
    difference = abs(statistics.median(known) - statistics.median(unknown))
    assert difference < TOLERANCE, f"known {known} vs unknown {unknown}"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(form, marks=pytest.mark.needs_features("magic_link")) if form == "sign-in link" else form
        for form in FORMS
    ],
)
async def test_a_known_address_answers_as_fast_as_an_unknown_one(
    paced_app: Litestar, db: AsyncSession, clock: FrozenClock, form: str
) -> None:
    path, field = FORMS[form]
    await Accounts(db=db, security=paced_app.state.security).create("ada@example.com")
    known: list[float] = []
    unknown: list[float] = []
    async with AsyncTestClient(app=paced_app, base_url=BASE_URL) as client:
        for sample in range(SAMPLES):
            clock.advance(timedelta(minutes=61))  # out of every rate-limit window
            for address, times in (("ada@example.com", known), (f"new{sample}@example.com", unknown)):
                web = WebClient(client)  # a fresh browser each time, as a prober would use
                await web.get(path)
                data = {field: address} | (
                    {"password": "a long and unusual passphrase"} if form == "registration" else {}
                )
                times.append(await timed_submit(web, path, data))
    assert_indistinguishable(known, unknown)


async def test_a_taken_new_address_answers_as_fast_as_a_free_one(
    paced_app: Litestar, db: AsyncSession
) -> None:
    accounts = Accounts(db=db, security=paced_app.state.security)
    await accounts.create("ada@example.com")
    await accounts.create("taken@example.com")
    known: list[float] = []
    unknown: list[float] = []
    async with AsyncTestClient(app=paced_app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await accounts.login(web)  # a password sign-in: sudo is fresh
        await web.get("/settings/email")
        for sample in range(SAMPLES):
            known.append(await timed_submit(web, "/settings/email", {"email": "taken@example.com"}))
            unknown.append(await timed_submit(web, "/settings/email", {"email": f"free{sample}@example.com"}))
    assert_indistinguishable(known, unknown)


async def test_other_forms_are_not_held(settings: Settings, db: AsyncSession, clock: FrozenClock) -> None:
    """With a three-second floor (the most the policy allows) on the address forms, a sign-in (hashing a password, which on a busy
    machine can take a second) still answers well before it: only the paced forms wait."""
    floor = 3.0
    slow = settings.model_copy(update={"security_policy": {"address_form_min_duration": floor}})
    app = create_app(slow, clock=clock)
    await Accounts(db=db, security=app.state.security).create("ada@example.com")
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.get("/login")
        started = time.perf_counter()
        response = await web.submit("/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD})
        assert response.status_code == 303
        assert time.perf_counter() - started < floor


def test_the_hold_comes_after_the_commit_and_the_mail(paced_app: Litestar) -> None:
    """Holding before the commit would leave the commit's and the queue's time visible."""
    hooks = paced_app.before_send
    commit = paced_app.state.db_config.before_send_handler
    assert hooks.index(hold_paced_answer) > hooks.index(commit)
