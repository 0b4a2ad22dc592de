"""The rules of mailed tokens, checked on the core's own functions (no pages, no URLs).

These travel with the core: a fork that renamed every page still runs them. They use the host's
test fixtures `app` (for the core's toolkit, on a frozen clock) and `db` (a session on the migrated
test database); any host that keeps those fixtures runs them unchanged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.clock import FrozenClock
from app.auth.core.mail_tokens import (
    CodeOutcome,
    CodeProblem,
    Purpose,
    check_code,
    find_live_token,
    issue_email_token,
    link_ttl,
    spend_token,
)
from app.auth.core.models import UserSecurityColumns
from app.auth.core.toolkit import Security, security_of

BROWSER = "nonce-of-the-browser-that-asked"


@pytest.fixture
def security(app: Litestar) -> Security:
    return security_of(app)


async def new_user(
    db: AsyncSession, security: Security, email: str = "ada@example.com"
) -> UserSecurityColumns:
    user = security.users()
    user.email, user.email_canonical = email, email
    db.add(user)
    await db.flush()
    return user


async def issue_with_code(db: AsyncSession, security: Security, purpose: Purpose) -> tuple[str, str]:
    """A token with a code, asked for by `BROWSER`: (link token, code)."""
    user = await new_user(db, security)
    issued = await issue_email_token(
        db, security, user=user, purpose=purpose, email=user.email, with_code=True, browser_nonce=BROWSER
    )
    assert issued.code is not None
    return issued.token, issued.code


@pytest.mark.parametrize("purpose", list(Purpose))
async def test_a_link_token_is_spent_once(db: AsyncSession, security: Security, purpose: Purpose) -> None:
    user = await new_user(db, security)
    issued = await issue_email_token(db, security, user=user, purpose=purpose, email=user.email)
    assert await spend_token(db, security, issued.token, purpose) is not None
    assert await spend_token(db, security, issued.token, purpose) is None
    assert await find_live_token(db, security, issued.token, purpose) is None


@pytest.mark.parametrize("purpose", list(Purpose))
async def test_a_link_token_dies_at_the_end_of_its_lifetime(
    db: AsyncSession, security: Security, clock: FrozenClock, purpose: Purpose
) -> None:
    user = await new_user(db, security)
    issued = await issue_email_token(db, security, user=user, purpose=purpose, email=user.email)
    clock.advance(link_ttl(purpose, security) - timedelta(seconds=1))
    assert await find_live_token(db, security, issued.token, purpose) is not None
    clock.advance(timedelta(seconds=1))
    assert await spend_token(db, security, issued.token, purpose) is None


@pytest.mark.parametrize("purpose", list(Purpose))
async def test_only_the_newest_link_of_a_purpose_works(
    db: AsyncSession, security: Security, purpose: Purpose
) -> None:
    user = await new_user(db, security)
    older = await issue_email_token(db, security, user=user, purpose=purpose, email=user.email)
    newer = await issue_email_token(db, security, user=user, purpose=purpose, email=user.email)
    assert await spend_token(db, security, older.token, purpose) is None
    assert await spend_token(db, security, newer.token, purpose) is not None


async def test_a_token_is_spent_only_for_its_own_purpose(db: AsyncSession, security: Security) -> None:
    user = await new_user(db, security)
    issued = await issue_email_token(db, security, user=user, purpose=Purpose.MAGIC_LINK, email=user.email)
    assert await spend_token(db, security, issued.token, Purpose.RESET_PASSWORD) is None
    assert await spend_token(db, security, issued.token, Purpose.MAGIC_LINK) is not None


async def test_a_code_works_only_in_the_browser_that_asked(db: AsyncSession, security: Security) -> None:
    _, code = await issue_with_code(db, security, Purpose.MAGIC_LINK)
    elsewhere = await check_code(
        db, security, purpose=Purpose.MAGIC_LINK, browser_nonce="another-browser", code=code
    )
    assert elsewhere.outcome is CodeOutcome.EXPIRED
    here = await check_code(db, security, purpose=Purpose.MAGIC_LINK, browser_nonce=BROWSER, code=code)
    assert here.outcome is CodeOutcome.ACCEPTED


async def test_a_code_dies_after_its_tries_even_when_the_last_guess_is_right(
    db: AsyncSession, security: Security
) -> None:
    _, code = await issue_with_code(db, security, Purpose.CONFIRM_EMAIL)
    wrong = "000000" if code != "000000" else "111111"
    for left in range(security.policy.code_max_attempts - 1, -1, -1):
        check = await check_code(
            db, security, purpose=Purpose.CONFIRM_EMAIL, browser_nonce=BROWSER, code=wrong
        )
        assert (check.outcome, check.tries_left) == (CodeOutcome.WRONG, left)
    last = await check_code(db, security, purpose=Purpose.CONFIRM_EMAIL, browser_nonce=BROWSER, code=code)
    assert last.outcome is CodeOutcome.EXPIRED
    assert CodeProblem.after(last) == CodeProblem("expired")


async def test_a_code_expires_before_its_link(
    db: AsyncSession, security: Security, clock: FrozenClock
) -> None:
    token, code = await issue_with_code(db, security, Purpose.CONFIRM_EMAIL)
    clock.advance(security.policy.confirmation_code_ttl)
    late = await check_code(db, security, purpose=Purpose.CONFIRM_EMAIL, browser_nonce=BROWSER, code=code)
    assert late.outcome is CodeOutcome.EXPIRED
    assert await find_live_token(db, security, token, Purpose.CONFIRM_EMAIL) is not None


async def test_a_spent_code_cannot_be_used_again(db: AsyncSession, security: Security) -> None:
    token, code = await issue_with_code(db, security, Purpose.MAGIC_LINK)
    first = await check_code(db, security, purpose=Purpose.MAGIC_LINK, browser_nonce=BROWSER, code=code)
    assert first.outcome is CodeOutcome.ACCEPTED
    again = await check_code(db, security, purpose=Purpose.MAGIC_LINK, browser_nonce=BROWSER, code=code)
    assert again.outcome is CodeOutcome.EXPIRED
    assert await spend_token(db, security, token, Purpose.MAGIC_LINK) is None
