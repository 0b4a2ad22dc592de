"""WebAuthn challenges: issued for one ceremony, bound to one session or browser, used once [54].

A challenge is what makes a passkey's signature fresh: the browser signs it, and the server must
have issued it, to this very ceremony, recently, and never accepted it before. So each one is a
row: 64 random bytes from `generate_challenge()`, the ceremony, what it is bound to, and an expiry
`passkey_challenge_ttl` (5 min) away, the timeout the browser is given too.

The binding is a SHA-256 of what the ceremony belongs to: the signed-in session (registering,
sudo), the pre-session (a passkey as the second factor) or, when nobody is signed in yet, a random
nonce this module keeps in the browser's `passkey` cookie. A response is matched on challenge,
ceremony *and* binding, so a challenge issued to one session cannot finish a ceremony in another,
and a stranger cannot even spend someone else's.

Spending is one `DELETE ... RETURNING`, committed at once: the challenge is gone before anything
else about the response is checked, so a replay finds nothing, and two copies of one response
sent together cannot both get through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from litestar import Request, Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn.helpers import parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.generate_challenge import generate_challenge

from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.models import PasskeyChallenge
from app.auth.core.tokens import new_token
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "Ceremony",
    "PasskeyRefused",
    "Spent",
    "browser_binding",
    "browser_nonce",
    "forget_browser",
    "issue_challenge",
    "new_browser_nonce",
    "pre_session_binding",
    "session_binding",
    "set_browser_cookie",
    "spend_challenge",
    "timeout_ms",
)


class Ceremony(StrEnum):
    """What a challenge was issued for; a challenge finishes only the ceremony it was issued for."""

    REGISTER = "register"
    SIGN_IN = "sign_in"
    SECOND_FACTOR = "second_factor"
    SUDO = "sudo"


class PasskeyRefused(Exception):  # noqa: N818 (a refusal the host puts in words, not a bug)
    """A passkey ceremony or change did not go through; `reason` says why, the host says it in words.

    `expired`: no live challenge (late, already used, or another browser's); `rejected`: the
    response did not verify (wrong origin or type, no user verification, bad signature, a counter
    that went backwards, a disabled account); `unknown`: no such passkey for this account;
    `already_registered`; `too_many`; `no_passkeys` (nothing to ask for); `last_way_in`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- bindings


def _binding(kind: bytes, value: bytes) -> bytes:
    return hashlib.sha256(kind + b":" + value).digest()


def session_binding(session_id: UUID) -> bytes:
    """For the signed-in session `session_id` (registration, sudo)."""
    return _binding(b"session", session_id.bytes)


def pre_session_binding(pending_id: UUID) -> bytes:
    """For the pre-session `pending_id` (a passkey as the second factor)."""
    return _binding(b"pre_session", pending_id.bytes)


def browser_binding(nonce: str) -> bytes:
    """For the browser holding `nonce` in its passkey cookie (usernameless sign-in)."""
    return _binding(b"browser", nonce.encode())


def browser_nonce(request: Request[Any, Any, Any]) -> str | None:
    """The nonce in this browser's passkey cookie, if it carries a plausible one."""
    value = request.cookies.get(security_of(request).cookies.passkey, "")
    return value if 32 <= len(value) <= 100 else None


def new_browser_nonce() -> str:
    """A nonce for a browser that has none yet (256 random bits)."""
    return new_token()


def set_browser_cookie(response: Response[Any], nonce: str, security: Security) -> None:
    """Keep `nonce` in the browser's passkey cookie for as long as a challenge lives."""
    max_age = int(security.policy.passkey_challenge_ttl.total_seconds())
    set_cookie(response, security.cookies.passkey, nonce, secure=security.secure_cookies, max_age=max_age)


def forget_browser(response: Response[Any], security: Security) -> None:
    """Drop the passkey cookie (the sign-in it was for is over)."""
    expire_cookie(response, security.cookies.passkey, secure=security.secure_cookies)


# --- issue and spend


def timeout_ms(security: Security) -> int:
    """The ceremony timeout the browser is told: the challenge's lifetime, in milliseconds."""
    return int(security.policy.passkey_challenge_ttl.total_seconds() * 1000)


async def issue_challenge(
    db: AsyncSession, security: Security, ceremony: Ceremony, binding: bytes, user_id: UUID | None
) -> bytes:
    """Store a new challenge for `ceremony`; lapsed ones are cleared out, so the table stays small."""
    now = security.clock.now()
    await db.execute(delete(PasskeyChallenge).where(PasskeyChallenge.expires_at <= now))
    challenge = generate_challenge()
    db.add(
        PasskeyChallenge(
            challenge=challenge,
            ceremony=ceremony.value,
            binding_hash=binding,
            user_id=user_id,
            expires_at=now + security.policy.passkey_challenge_ttl,
        )
    )
    await db.flush()
    return challenge


@dataclass(frozen=True)
class Spent:
    """A challenge that was live, now used up: its bytes and the user it was issued for (if any)."""

    challenge: bytes
    user_id: UUID | None


async def spend_challenge(
    db: AsyncSession, security: Security, ceremony: Ceremony, binding: bytes, client_data_json: bytes
) -> Spent:
    """Delete the challenge `client_data_json` answers, if it is this ceremony's and this binding's.

    Committed at once: whatever happens next, the challenge has been used. Raises
    `PasskeyRefused("expired")` when there is no such live challenge.
    """
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError) as exc:
        raise PasskeyRefused("rejected") from exc
    spent = await db.execute(
        delete(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge == challenge,
            PasskeyChallenge.ceremony == ceremony.value,
            PasskeyChallenge.binding_hash == binding,
        )
        .returning(PasskeyChallenge.user_id, PasskeyChallenge.expires_at)
    )
    row = spent.first()
    await db.commit()
    if row is None or security.clock.now() >= row.expires_at:
        raise PasskeyRefused("expired")
    return Spent(challenge=challenge, user_id=row.user_id)
