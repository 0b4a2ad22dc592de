"""Remember-me: a separate, rotating credential that restores a session after it ends [26].

The cookie is `selector.validator`. The selector finds the row; the validator proves possession and
is stored only as a SHA-256. Every use rotates the validator, so a copied cookie works once: if the
thief uses it first, the owner's next visit presents the old validator, which no longer matches,
and that mismatch revokes every remember-me token of the user (theft is detected, not just
refused). Two tabs restoring at the same moment would look the same, so the validator replaced
within the last few seconds (`remember_me_race_grace`) is still accepted, without another rotation.

A restored session is a fresh *login* but not fresh *authentication*: it never satisfies sudo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.auth.core.clock import Clock
from app.auth.core.policy import SecurityPolicy
from app.auth.core.tokens import digests_match, new_selector_validator, token_digest

__all__ = ("NewRememberToken", "RememberVerdict", "StoredRememberToken", "issue_remember_token", "judge")


@dataclass(frozen=True)
class NewRememberToken:
    """A token to store (selector + validator hash) and the cookie value to send."""

    selector: str
    validator_hash: bytes
    cookie_value: str
    expires_at: datetime


@dataclass(frozen=True)
class StoredRememberToken:
    """What the host stored for a selector."""

    validator_hash: bytes
    previous_validator_hash: bytes | None
    rotated_at: datetime | None
    expires_at: datetime


class RememberVerdict(StrEnum):
    """What to do with a presented remember-me cookie."""

    VALID = "valid"  # restore a session and rotate the validator
    RACE = "race"  # a just-rotated validator from a parallel request: restore, do not rotate
    THEFT = "theft"  # an old validator: revoke all of the user's remember-me tokens
    EXPIRED = "expired"  # delete the token and ignore the cookie


def issue_remember_token(*, clock: Clock, policy: SecurityPolicy) -> NewRememberToken:
    """Mint a remember-me token valid for `remember_me_lifetime`."""
    selector, validator = new_selector_validator()
    return NewRememberToken(
        selector=selector,
        validator_hash=token_digest(validator),
        cookie_value=f"{selector}.{validator}",
        expires_at=clock.now() + policy.remember_me_lifetime,
    )


def rotated_validator(selector: str) -> tuple[str, bytes]:
    """A new cookie value for `selector` and the hash of its validator."""
    _, validator = new_selector_validator()
    return f"{selector}.{validator}", token_digest(validator)


def judge(
    stored: StoredRememberToken, validator: str, now: datetime, policy: SecurityPolicy
) -> RememberVerdict:
    """Decide what a presented validator means for the stored token."""
    if now >= stored.expires_at:
        return RememberVerdict.EXPIRED
    presented = token_digest(validator)
    if digests_match(presented, stored.validator_hash):
        return RememberVerdict.VALID
    recently_rotated = (
        stored.rotated_at is not None and now - stored.rotated_at < policy.remember_me_race_grace
    )
    if recently_rotated and digests_match(presented, stored.previous_validator_hash):
        return RememberVerdict.RACE
    return RememberVerdict.THEFT
