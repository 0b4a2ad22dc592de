"""Remember-me verdicts: valid once, rotation race tolerated briefly, an old validator is theft [26]."""

from __future__ import annotations

from datetime import timedelta

from app.auth.core.clock import FrozenClock
from app.auth.core.policy import DEFAULT_POLICY
from app.auth.core.remember import (
    RememberVerdict,
    StoredRememberToken,
    issue_remember_token,
    judge,
    rotated_validator,
)
from app.auth.core.tokens import split_selector_validator

POLICY = DEFAULT_POLICY


def stored_for(cookie_hash: bytes, clock: FrozenClock, **extra: object) -> StoredRememberToken:
    values: dict[str, object] = {
        "validator_hash": cookie_hash,
        "previous_validator_hash": None,
        "rotated_at": None,
        "expires_at": clock.now() + timedelta(days=30),
    }
    values.update(extra)
    return StoredRememberToken(**values)  # type: ignore[arg-type]


def test_a_fresh_token_is_valid_for_thirty_days() -> None:
    clock = FrozenClock()
    token = issue_remember_token(clock=clock, policy=POLICY)
    parsed = split_selector_validator(token.cookie_value)
    assert parsed is not None
    selector, validator = parsed
    assert selector == token.selector
    stored = stored_for(token.validator_hash, clock)
    assert judge(stored, validator, clock.now(), POLICY) is RememberVerdict.VALID
    assert judge(stored, validator, clock.now() + timedelta(days=30), POLICY) is RememberVerdict.EXPIRED


def test_an_old_validator_is_theft_after_the_grace_period() -> None:
    clock = FrozenClock()
    token = issue_remember_token(clock=clock, policy=POLICY)
    old_validator = token.cookie_value.split(".", 1)[1]
    new_cookie, new_hash = rotated_validator(token.selector)
    stored = stored_for(new_hash, clock, previous_validator_hash=token.validator_hash, rotated_at=clock.now())
    assert judge(stored, new_cookie.split(".", 1)[1], clock.now(), POLICY) is RememberVerdict.VALID
    assert judge(stored, old_validator, clock.now() + timedelta(seconds=5), POLICY) is RememberVerdict.RACE
    assert judge(stored, old_validator, clock.now() + timedelta(seconds=30), POLICY) is RememberVerdict.THEFT


def test_a_made_up_validator_is_theft() -> None:
    clock = FrozenClock()
    token = issue_remember_token(clock=clock, policy=POLICY)
    assert (
        judge(stored_for(token.validator_hash, clock), "x" * 43, clock.now(), POLICY) is RememberVerdict.THEFT
    )


def test_rotation_keeps_the_selector_and_changes_the_validator() -> None:
    token = issue_remember_token(clock=FrozenClock(), policy=POLICY)
    new_cookie, new_hash = rotated_validator(token.selector)
    assert new_cookie.startswith(f"{token.selector}.")
    assert new_cookie != token.cookie_value
    assert new_hash != token.validator_hash
