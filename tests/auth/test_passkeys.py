"""Passkeys [54]-[58]: challenges, registration, sign-in without an email, second factor, sudo, removal.

The browser side is `tests.support.authenticator.SoftAuthenticator`: it answers the server's
options exactly as `credential.toJSON()` would, and lets a test get any part of it wrong.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core import backup_codes
from app.auth.core.clock import FrozenClock
from app.auth.core.models import AuditEvent, BackupCode, PasskeyChallenge, WebAuthnCredential
from app.auth.models import User
from tests.auth.test_sessions import cost_of
from tests.support.accounts import Accounts
from tests.support.authenticator import SoftAuthenticator, from_b64url
from tests.support.mail import Mailbox
from tests.support.web import BASE_URL, WebClient

BOB = "bob@example.com"
ICLOUD = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")
CHANGED_SUBJECT = "Your Gatehouse sign-in protection changed"


# --- what the page's script does


async def post_json(web: WebClient, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """POST JSON the way passkeys.js does: CSRF header, same-origin, JSON accepted."""
    if web.csrf_token is None:
        await web.get("/")
    headers = {
        "origin": BASE_URL,
        "sec-fetch-site": "same-origin",
        "x-csrftoken": str(web.csrf_token),
        "accept": "application/json",
    }
    return await web.request("POST", path, json=body or {}, headers=headers, follow_redirects=False)


async def options(web: WebClient, path: str) -> dict[str, Any]:
    response = await post_json(web, path)
    assert response.status_code == 200, response.text[:300]
    answer: dict[str, Any] = response.json()
    return answer


async def add_passkey(web: WebClient, authenticator: SoftAuthenticator, **answer: Any) -> httpx.Response:
    """Settings → "Add a passkey" (the session must have sudo)."""
    created = authenticator.create(await options(web, "/settings/passkeys/options"), **answer)
    return await post_json(web, "/settings/passkeys/verify", {"credential": created})


async def passkey_sign_in(
    web: WebClient, authenticator: SoftAuthenticator, **answer: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    """The sign-in page's "Sign in with a passkey": the answer, and the assertion that was sent."""
    await web.get("/login")
    asserted = authenticator.get(await options(web, "/login/passkey/options"), **answer)
    response = await post_json(web, "/login/passkey/verify", {"credential": asserted})
    return response, asserted


async def passkey_sudo(web: WebClient, authenticator: SoftAuthenticator, **answer: Any) -> httpx.Response:
    """The sudo page's "Confirm with a passkey"."""
    asserted = authenticator.get(await options(web, "/sudo/passkey/options"), **answer)
    return await post_json(
        web, "/sudo/passkey/verify", {"credential": asserted, "next": "/settings/passkeys"}
    )


async def signed_in_as(web: WebClient) -> str | None:
    """The address of the signed-in user, or None."""
    page = await web.get("/settings/profile", follow_redirects=False)
    if page.status_code != 200:
        return None
    for email in ("ada@example.com", BOB):
        if f'<p class="menu-email">{email}</p>' in page.text:
            return email
    return "someone"


async def has_sudo(web: WebClient) -> bool:
    return (await post_json(web, "/settings/passkeys/options")).status_code == 200


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
async def ada(accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator) -> User:
    """Ada, with a password and one passkey (added in `web`, which is left signed in)."""
    user = await accounts.create()
    await accounts.login(web)
    assert (await add_passkey(web, authenticator)).status_code == 200
    return user


async def stored(db: AsyncSession, user_id: UUID) -> list[WebAuthnCredential]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
    return list((await db.scalars(query.execution_options(populate_existing=True))).all())


async def audited(db: AsyncSession, action: str) -> list[AuditEvent]:
    return list((await db.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


# --- challenges [54]


async def test_a_replayed_assertion_is_rejected(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    first = await options(browser, "/login/passkey/options")
    nonce = browser.cookies["passkey"]
    asserted = authenticator.get(first)
    assert (await post_json(browser, "/login/passkey/verify", {"credential": asserted})).status_code == 200
    await browser.submit("/logout")
    await browser.get("/login")  # signing out expired the CSRF cookie: the sign-in page gives a new one
    browser.cookies.set("passkey", nonce)  # even with the nonce cookie it was bound to
    replay = await post_json(browser, "/login/passkey/verify", {"credential": asserted})
    assert replay.status_code == 400
    assert "expired or was already used" in replay.json()["error"]
    assert await signed_in_as(browser) is None


async def test_finishing_five_minutes_and_a_second_after_the_options_is_rejected(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    late = authenticator.get(await options(browser, "/login/passkey/options"))
    clock.advance(timedelta(minutes=5, seconds=1))
    response = await post_json(browser, "/login/passkey/verify", {"credential": late})
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_finishing_just_inside_five_minutes_works(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    in_time = authenticator.get(await options(browser, "/login/passkey/options"))
    clock.advance(timedelta(minutes=4, seconds=59))
    assert (await post_json(browser, "/login/passkey/verify", {"credential": in_time})).status_code == 200


async def test_the_browser_is_told_the_five_minute_timeout(ada: User, web: WebClient) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    assert (await options(browser, "/login/passkey/options"))["timeout"] == 300_000


async def test_a_challenge_issued_to_one_session_cannot_finish_in_another(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    session_b = web.other_browser()
    await accounts.login(session_b)  # password, then the passkey as second step
    await answer_second_step(session_b, authenticator)
    asserted = authenticator.get(await options(web, "/sudo/passkey/options"))  # issued to session A
    body = {"credential": asserted, "next": "/settings"}
    assert (await post_json(session_b, "/sudo/passkey/verify", body)).status_code == 400
    # Session B could not even spend it: session A still can.
    assert (await post_json(web, "/sudo/passkey/verify", body)).status_code == 200


async def test_a_sign_in_challenge_of_one_browser_cannot_finish_in_another(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    victim, attacker = web.other_browser(), web.other_browser()
    await victim.get("/login")
    asserted = authenticator.get(await options(victim, "/login/passkey/options"))
    await attacker.get("/login")
    await options(attacker, "/login/passkey/options")  # the attacker has a nonce of its own
    assert (await post_json(attacker, "/login/passkey/verify", {"credential": asserted})).status_code == 400
    assert await signed_in_as(attacker) is None


async def test_lapsed_challenges_are_cleared_when_new_ones_are_issued(
    ada: User, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    for _ in range(3):
        await options(browser, "/login/passkey/options")
    clock.advance(timedelta(minutes=6))
    await options(browser, "/login/passkey/options")
    assert await db.scalar(select(func.count()).select_from(PasskeyChallenge)) == 1


# --- registration [55]


async def test_registration_options_ask_for_a_discoverable_verified_key_and_exclude_existing_ones(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    created = await options(web, "/settings/passkeys/options")
    assert created["rp"] == {"id": "testserver.local", "name": "Gatehouse"}
    assert created["authenticatorSelection"]["residentKey"] == "required"
    assert created["authenticatorSelection"]["userVerification"] == "required"
    assert created["timeout"] == 300_000
    assert [p["alg"] for p in created["pubKeyCredParams"]] == [-7, -8, -257]
    assert created["attestation"] == "none"
    [existing] = await stored(db, ada.id)
    assert [from_b64url(c["id"]) for c in created["excludeCredentials"]] == [existing.credential_id]
    assert len(from_b64url(created["challenge"])) == 64


async def test_the_user_handle_is_random_not_the_email_or_the_id(
    ada: User, web: WebClient, db: AsyncSession
) -> None:
    handle = from_b64url((await options(web, "/settings/passkeys/options"))["user"]["id"])
    assert len(handle) == 64
    assert handle not in {ada.id.bytes, ada.email.encode(), str(ada.id).encode()}
    assert await db.scalar(select(User.webauthn_user_handle).where(User.id == ada.id)) == handle


async def test_registering_a_credential_id_another_user_owns_is_rejected(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    [adas] = await stored(db, ada.id)
    bob = await accounts.create(BOB)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, BOB)
    response = await add_passkey(bobs_browser, SoftAuthenticator(), credential_id=adas.credential_id)
    assert response.status_code == 409
    assert response.json()["error"] == "That passkey is already registered."
    assert await stored(db, bob.id) == []


async def test_a_registration_from_another_origin_is_rejected(
    accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    response = await add_passkey(web, authenticator, origin="https://evil.example")
    assert response.status_code == 400
    assert await stored(db, user.id) == []


async def test_a_get_response_posted_as_a_registration_is_rejected(
    accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    response = await add_passkey(web, authenticator, client_type="webauthn.get")
    assert response.status_code == 400
    assert await stored(db, user.id) == []


async def test_a_registration_without_user_verification_is_rejected(
    accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    assert (await add_passkey(web, authenticator, user_verified=False)).status_code == 400
    assert await stored(db, user.id) == []


async def test_adding_a_passkey_needs_sudo(
    accounts: Accounts, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    clock.advance(timedelta(minutes=16))
    response = await post_json(web, "/settings/passkeys/options")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sudo?next=")
    assert await db.scalar(select(User.webauthn_user_handle).where(User.id == user.id)) is None


async def test_the_eleventh_passkey_is_refused(
    ada: User, web: WebClient, db: AsyncSession, app: Litestar
) -> None:
    for _ in range(9):
        assert (await add_passkey(web, SoftAuthenticator())).status_code == 200
    assert len(await stored(db, ada.id)) == 10
    refused = await post_json(web, "/settings/passkeys/options")
    assert refused.status_code == 409
    page = await web.get("/settings/passkeys")
    assert "as many as an account can have" in page.text
    assert 'data-passkey="register"' not in page.text


async def test_eleven_at_once_is_refused_at_the_finish_too(
    ada: User, web: WebClient, db: AsyncSession
) -> None:
    for _ in range(8):
        assert (await add_passkey(web, SoftAuthenticator())).status_code == 200
    tenth = await options(web, "/settings/passkeys/options")
    eleventh = await options(web, "/settings/passkeys/options")  # asked for while there were nine
    first = await post_json(
        web, "/settings/passkeys/verify", {"credential": SoftAuthenticator().create(tenth)}
    )
    assert first.status_code == 200
    second = await post_json(
        web, "/settings/passkeys/verify", {"credential": SoftAuthenticator().create(eleventh)}
    )
    assert second.status_code == 409
    assert len(await stored(db, ada.id)) == 10


async def test_a_known_authenticator_names_the_passkey(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web)
    response = await add_passkey(web, SoftAuthenticator(aaguid=ICLOUD))
    assert response.json() == {"redirect": "/settings/passkeys"}
    [passkey] = await stored(db, user.id)
    assert passkey.name == "iCloud Keychain"
    assert passkey.aaguid == "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
    page = await web.get("/settings/passkeys")
    assert "Passkey added: “iCloud Keychain”." in page.text


async def test_an_unknown_authenticator_is_named_after_the_device(
    accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    user = await accounts.create()
    await accounts.login(web, headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
    web.client.headers["user-agent"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
    try:
        await add_passkey(web, SoftAuthenticator())
    finally:
        del web.client.headers["user-agent"]
    [passkey] = await stored(db, user.id)
    assert passkey.name == "Passkey on Firefox on Linux"


async def test_adding_a_passkey_signs_out_other_sessions_and_mails_the_owner(
    accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, mailbox: Mailbox, db: AsyncSession
) -> None:
    user = await accounts.create()
    laptop = web.other_browser()
    await accounts.login(laptop)
    await accounts.login(web)
    assert (await add_passkey(web, authenticator)).status_code == 200
    assert await signed_in_as(laptop) is None
    assert await signed_in_as(web) == "ada@example.com"
    [notice] = await mailbox.wait_for(user.email, subject=CHANGED_SUBJECT)
    assert "A passkey" in notice.text_body
    assert "was added" in notice.text_body
    assert [e.details["name"] for e in await audited(db, "auth.passkey.added")] == [
        "Passkey on Unknown device"
    ]


# --- signing in without an email address [56][57]


async def test_a_passkey_signs_in_without_an_email_address(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession, clock: FrozenClock
) -> None:
    browser = web.other_browser()
    clock.advance(timedelta(minutes=1))
    response, _ = await passkey_sign_in(browser, authenticator)
    assert response.status_code == 200
    assert response.json() == {"redirect": "/dashboard"}
    assert "passkey=" in response.headers["set-cookie"]  # the nonce cookie is dropped
    assert await signed_in_as(browser) == "ada@example.com"
    [passkey] = await stored(db, ada.id)
    assert passkey.sign_count == 1
    assert passkey.last_used_at == clock.now()
    event = (await audited(db, "auth.login.succeeded"))[-1]
    assert event.details["method"] == "passkey"


async def test_a_passkey_sign_in_goes_back_to_the_page_asked_for(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    await browser.get("/login?next=/settings/sessions")
    asserted = authenticator.get(await options(browser, "/login/passkey/options"))
    body = {"credential": asserted, "next": "/settings/sessions"}
    assert (await post_json(browser, "/login/passkey/verify", body)).json() == {
        "redirect": "/settings/sessions"
    }


async def test_a_passkey_sign_in_never_redirects_off_site(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    await browser.get("/login")
    asserted = authenticator.get(await options(browser, "/login/passkey/options"))
    body = {"credential": asserted, "next": "//evil.example/"}
    assert (await post_json(browser, "/login/passkey/verify", body)).json() == {"redirect": "/dashboard"}


async def test_sign_in_options_name_no_account_whoever_asks(
    ada: User, accounts: Accounts, web: WebClient
) -> None:
    await accounts.create(BOB)
    shapes = []
    for browser in (web.other_browser(), web.other_browser()):
        await browser.get("/login")
        answer = await options(browser, "/login/passkey/options")
        assert "allowCredentials" not in answer
        assert answer["userVerification"] == "required"
        assert answer["rpId"] == "testserver.local"
        shapes.append(sorted(answer))
    assert shapes[0] == shapes[1]


async def test_a_sign_count_below_the_stored_one_is_rejected_and_audited(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await db.execute(update(WebAuthnCredential).values(sign_count=7))
    await db.commit()
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, authenticator, sign_count=5)
    assert response.status_code == 400
    assert await signed_in_as(browser) is None
    [event] = await audited(db, "auth.passkey.sign_count_regressed")
    assert event.outcome == "failure"
    assert event.target_id == str(ada.id)
    assert (event.details["stored_count"], event.details["presented_count"]) == (7, 5)
    [passkey] = await stored(db, ada.id)
    assert passkey.sign_count == 7


async def test_a_forged_low_counter_without_a_valid_signature_raises_no_cloning_alert(
    ada: User, web: WebClient, db: AsyncSession
) -> None:
    await db.execute(update(WebAuthnCredential).values(sign_count=7))
    await db.commit()
    [passkey] = await stored(db, ada.id)
    impostor = SoftAuthenticator()  # a key of its own, the victim's credential id
    impostor.create({"rp": {"id": "testserver.local"}, "user": {"id": "AA"}, "challenge": "AA"})
    impostor.passkeys[0].credential_id = passkey.credential_id
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, impostor, sign_count=5)
    assert response.status_code == 400
    assert await audited(db, "auth.passkey.sign_count_regressed") == []
    assert len(await audited(db, "auth.passkey.failed")) == 1


async def test_an_assertion_without_user_verification_is_rejected(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, authenticator, user_verified=False)
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_an_assertion_from_another_origin_is_rejected(
    ada: User, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, authenticator, origin="https://evil.example")
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_a_passkey_of_one_user_with_the_user_handle_of_another_is_rejected(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await accounts.create(BOB)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, BOB)
    bobs_authenticator = SoftAuthenticator()
    assert (await add_passkey(bobs_browser, bobs_authenticator)).status_code == 200
    adas_handle = authenticator.passkeys[0].user_handle
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, bobs_authenticator, user_handle=adas_handle)
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_an_unknown_passkey_is_rejected(ada: User, web: WebClient) -> None:
    stranger = SoftAuthenticator()
    stranger.create({"rp": {"id": "testserver.local"}, "user": {"id": "AA"}, "challenge": "AA"})
    response, _ = await passkey_sign_in(web.other_browser(), stranger)
    assert response.status_code == 400
    assert response.json()["error"] == "That passkey is not registered for this account. Try another one."


async def test_a_disabled_account_cannot_sign_in_with_its_passkey(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await db.execute(update(User).where(User.id == ada.id).values(is_active=False))
    await db.commit()
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, authenticator)
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_a_deleted_accounts_passkey_leads_to_the_restore_offer_not_a_session(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await web.get("/settings/account")
    await web.submit("/settings/account/delete", {"confirm_email": "ada@example.com"})
    browser = web.other_browser()
    response, _ = await passkey_sign_in(browser, authenticator)
    assert response.json() == {"redirect": "/login/restore"}
    assert await signed_in_as(browser) is None
    assert (await browser.submit("/login/restore")).status_code == 303
    assert await signed_in_as(browser) == "ada@example.com"


async def test_a_signed_in_browser_cannot_ask_for_sign_in_options(ada: User, web: WebClient) -> None:
    response = await post_json(web, "/login/passkey/options")
    assert response.status_code == 303


# --- the second factor [15][16]


async def answer_second_step(web: WebClient, authenticator: SoftAuthenticator, **body: Any) -> httpx.Response:
    asserted = authenticator.get(await options(web, "/login/two-factor/passkey/options"))
    response = await post_json(web, "/login/two-factor/passkey/verify", {"credential": asserted, **body})
    assert response.status_code == 200, response.text[:300]
    return response


async def test_a_password_sign_in_asks_for_the_passkey_as_second_step(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    browser = web.other_browser()
    first_step = await accounts.login(browser)
    assert first_step.headers["location"] == "/login/two-factor"
    assert await signed_in_as(browser) is None
    page = await browser.get("/login/two-factor")
    assert 'data-passkey="second-factor"' in page.text
    assert 'data-trust-field="trust"' in page.text
    assert "Using a passkey needs JavaScript." in page.text
    second = await options(browser, "/login/two-factor/passkey/options")
    assert [from_b64url(c["id"]) for c in second["allowCredentials"]] == [
        authenticator.passkeys[0].credential_id
    ]
    answer = await answer_second_step(browser, authenticator)
    assert answer.json() == {"redirect": "/dashboard"}
    assert await signed_in_as(browser) == "ada@example.com"


async def test_a_passkey_completes_the_second_step_for_a_user_with_totp_too(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await accounts.enrol_totp(ada)
    browser = web.other_browser()
    await accounts.login(browser)
    await answer_second_step(browser, authenticator, trust_browser=True)
    assert await signed_in_as(browser) == "ada@example.com"
    [passed] = await audited(db, "auth.login.second_factor_passed")
    assert passed.details["method"] == "passkey"
    assert len(await audited(db, "auth.mfa.browser_trusted")) == 1


async def test_another_users_passkey_cannot_answer_the_second_step(
    ada: User, accounts: Accounts, web: WebClient, authenticator: SoftAuthenticator
) -> None:
    await accounts.create(BOB)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, BOB)
    bobs_authenticator = SoftAuthenticator()
    await add_passkey(bobs_browser, bobs_authenticator)
    browser = web.other_browser()
    await accounts.login(browser)  # Ada's password
    second = await options(browser, "/login/two-factor/passkey/options")
    asserted = bobs_authenticator.get(second, bobs_authenticator.passkeys[0])
    response = await post_json(browser, "/login/two-factor/passkey/verify", {"credential": asserted})
    assert response.status_code == 400
    assert await signed_in_as(browser) is None


async def test_the_second_step_without_a_pre_session_starts_over(web: WebClient) -> None:
    await web.get("/login")
    response = await post_json(web, "/login/two-factor/passkey/options")
    assert response.status_code == 400
    assert response.json()["redirect"] == "/login"


# --- sudo [28]


async def test_a_passkey_gives_sudo(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, clock: FrozenClock, db: AsyncSession
) -> None:
    clock.advance(timedelta(minutes=16))
    assert not await has_sudo(web)
    response = await passkey_sudo(web, authenticator)
    assert response.json() == {"redirect": "/settings/passkeys"}
    assert await has_sudo(web)
    [granted] = (await audited(db, "auth.sudo.granted"))[-1:]
    assert granted.details["method"] == "passkey"


async def test_sudo_with_another_users_passkey_is_refused(
    ada: User, accounts: Accounts, web: WebClient, clock: FrozenClock
) -> None:
    await accounts.create(BOB)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, BOB)
    bobs_authenticator = SoftAuthenticator()
    await add_passkey(bobs_browser, bobs_authenticator)
    clock.advance(timedelta(minutes=16))
    asserted = bobs_authenticator.get(
        await options(web, "/sudo/passkey/options"), bobs_authenticator.passkeys[0]
    )
    response = await post_json(web, "/sudo/passkey/verify", {"credential": asserted})
    assert response.status_code == 400
    assert not await has_sudo(web)


async def test_a_passkey_sign_in_counts_as_fresh_authentication_for_sudo(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    browser = web.other_browser()
    await passkey_sign_in(browser, authenticator)
    assert await has_sudo(browser)
    clock.advance(timedelta(minutes=16))
    assert not await has_sudo(browser)


async def test_a_form_interrupted_by_sudo_is_handed_back_after_a_passkey_confirms(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, clock: FrozenClock, db: AsyncSession
) -> None:
    [passkey] = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    clock.advance(timedelta(minutes=16))
    rename = f"/settings/passkeys/{passkey.id}/rename"
    refused = await web.submit(rename, {"name": "Work laptop"})
    assert refused.headers["location"].startswith("/sudo?next=")
    prompt = await web.get(refused.headers["location"])
    assert 'data-passkey="sudo"' in prompt.text
    answer = (await passkey_sudo(web, authenticator)).json()
    assert answer == {"replay": {"path": rename, "fields": [["name", "Work laptop"]]}}
    await web.get("/settings/passkeys")
    assert (await web.submit(rename, {"name": "Work laptop"})).status_code == 303  # what the script sends
    assert [p.name for p in await stored(db, ada.id)] == ["Work laptop"]


# --- the settings page, renaming and removing [58]


async def test_the_passkeys_page_lists_them_and_offers_changes_under_sudo(
    ada: User, web: WebClient, clock: FrozenClock
) -> None:
    page = await web.get("/settings/passkeys")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Passkey on Unknown device" in page.text
    assert "Not yet" in page.text  # last used
    assert 'data-passkey="register"' in page.text
    assert "/rename" in page.text
    clock.advance(timedelta(minutes=16))
    page = await web.get("/settings/passkeys")
    assert "/rename" not in page.text
    assert 'data-passkey="sudo"' in page.text
    assert "Adding a passkey needs JavaScript" not in page.text


async def test_the_passkeys_page_adds_one_statement_however_many_passkeys(
    ada: User, web: WebClient, app: Litestar
) -> None:
    for _ in range(4):
        await add_passkey(web, SoftAuthenticator())
    status, cost = await cost_of(app, web, "/settings/passkeys")
    assert status == 200
    assert len(cost.statements) == 2, cost.statements  # resume, then the list: nothing per passkey
    assert cost.most_at_once == 1


async def test_a_passkey_can_be_renamed(ada: User, web: WebClient, db: AsyncSession) -> None:
    [passkey] = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    response = await web.submit(f"/settings/passkeys/{passkey.id}/rename", {"name": "  Work laptop  "})
    assert response.status_code == 303
    [passkey] = await stored(db, ada.id)
    assert passkey.name == "Work laptop"
    assert "Passkey renamed to “Work laptop”." in (await web.get("/settings/passkeys")).text


async def test_a_name_with_a_line_break_is_refused(ada: User, web: WebClient, db: AsyncSession) -> None:
    [passkey] = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    await web.submit(f"/settings/passkeys/{passkey.id}/rename", {"name": "Work\r\nBcc: x@example.com"})
    [passkey] = await stored(db, ada.id)
    assert passkey.name == "Passkey on Unknown device"
    assert "no line breaks" in (await web.get("/settings/passkeys")).text


async def test_another_users_passkey_cannot_be_renamed_or_removed(
    ada: User, accounts: Accounts, web: WebClient, db: AsyncSession
) -> None:
    [passkey] = await stored(db, ada.id)
    await accounts.create(BOB)
    bobs_browser = web.other_browser()
    await accounts.login(bobs_browser, BOB)
    await bobs_browser.get("/settings/passkeys")
    assert (
        await bobs_browser.submit(f"/settings/passkeys/{passkey.id}/rename", {"name": "x"})
    ).status_code == 404
    assert (await bobs_browser.submit(f"/settings/passkeys/{passkey.id}/delete")).status_code == 404
    assert len(await stored(db, ada.id)) == 1


async def test_renaming_and_removing_need_sudo(
    ada: User, web: WebClient, clock: FrozenClock, db: AsyncSession
) -> None:
    [passkey] = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    clock.advance(timedelta(minutes=16))
    for action, data in (("rename", {"name": "x"}), ("delete", {})):
        response = await web.submit(f"/settings/passkeys/{passkey.id}/{action}", data)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sudo?next=")
    assert [p.name for p in await stored(db, ada.id)] == ["Passkey on Unknown device"]


async def test_removing_a_passkey_signs_out_other_sessions_and_mails_the_owner(
    ada: User,
    accounts: Accounts,
    web: WebClient,
    authenticator: SoftAuthenticator,
    mailbox: Mailbox,
    db: AsyncSession,
) -> None:
    [passkey] = await stored(db, ada.id)
    phone = web.other_browser()
    await passkey_sign_in(phone, authenticator)
    await web.get("/settings/passkeys")
    response = await web.submit(f"/settings/passkeys/{passkey.id}/delete")
    assert response.status_code == 303
    assert await stored(db, ada.id) == []
    assert await signed_in_as(phone) is None
    notices = await mailbox.wait_for(ada.email, count=2, subject=CHANGED_SUBJECT)
    assert any("was removed" in notice.text_body for notice in notices)
    assert len(await audited(db, "auth.passkey.removed")) == 1
    # No passkey left: the password alone signs in again.
    assert (await accounts.login(web.other_browser())).headers["location"] == "/dashboard"


async def test_removing_the_last_second_factor_removes_the_backup_codes_too(
    ada: User, web: WebClient, app: Litestar, db: AsyncSession
) -> None:
    await backup_codes.generate_codes(db, app.state.security, ada.id)
    await db.commit()
    [passkey] = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    await web.submit(f"/settings/passkeys/{passkey.id}/delete")
    assert await db.scalar(select(func.count()).select_from(BackupCode)) == 0


async def test_the_only_passkey_of_a_passwordless_account_cannot_be_removed(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await db.execute(update(User).where(User.id == ada.id).values(password_hash=None))
    await db.commit()
    browser = web.other_browser()
    await passkey_sign_in(browser, authenticator)
    [passkey] = await stored(db, ada.id)
    page = await browser.get("/settings/passkeys")
    assert "the only way into your account" in page.text
    assert "/delete" not in page.text
    response = await browser.submit(f"/settings/passkeys/{passkey.id}/delete")
    assert response.status_code == 303
    assert len(await stored(db, ada.id)) == 1
    assert "only way into your account" in (await browser.get("/settings/passkeys")).text


async def test_a_passwordless_account_with_two_passkeys_may_remove_one(
    ada: User, web: WebClient, authenticator: SoftAuthenticator, db: AsyncSession
) -> None:
    await add_passkey(web, SoftAuthenticator())
    await db.execute(update(User).where(User.id == ada.id).values(password_hash=None))
    await db.commit()
    first, _ = await stored(db, ada.id)
    await web.get("/settings/passkeys")
    assert (await web.submit(f"/settings/passkeys/{first.id}/delete")).status_code == 303
    assert len(await stored(db, ada.id)) == 1


# --- pages


async def test_the_sign_in_page_offers_passkeys_with_autofill_and_a_note_without_javascript(
    web: WebClient,
) -> None:
    page = await web.get("/login")
    assert 'autocomplete="username webauthn"' in page.text
    assert 'data-passkey="sign-in"' in page.text
    assert 'data-conditional="true"' in page.text
    assert "Signing in with a passkey needs JavaScript. Use your password or an emailed" in page.text
    assert "/static/js/passkeys.js" in page.text


async def test_a_failed_ceremony_answers_json_the_page_can_show(web: WebClient) -> None:
    await web.get("/login")
    response = await post_json(web, "/login/passkey/verify", {"credential": {"id": "x"}})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": "That passkey request expired or was already used. Please try again."}
