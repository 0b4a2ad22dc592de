"""Tokens that travel by mail: issue one, read it back, spend it once, check a typed code.

One table serves every mailed token (confirm an address, reset a password, sign in by link,
change the address). A link token is 256 random bits stored as its SHA-256; spending it is one
`UPDATE ... WHERE used_at IS NULL AND expires_at > now RETURNING`, so two clicks racing each other
cannot both win. Issuing a new token of a purpose retires the user's older ones (the newest link
is the only one that works). A code (six digits) is stored as a keyed digest, bound to the browser
that asked for it, and dies after a few wrong tries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from hashlib import sha256
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import EmailToken, UserSecurityColumns
from app.auth.core.tokens import code_digest, digests_match, new_code, new_token, token_digest
from app.auth.core.toolkit import Security


class Purpose(StrEnum):
    """What a mailed token is for."""

    CONFIRM_EMAIL = "confirm_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a token purpose, not a secret)
    MAGIC_LINK = "magic_link"
    CHANGE_EMAIL = "change_email"
    CANCEL_DELETION = "cancel_deletion"
    """The link back in the "your account will be deleted" mail (it only leads to signing in)."""


def link_ttl(purpose: Purpose, security: Security) -> timedelta:
    """How long a link of this purpose works."""
    policy = security.policy
    return {
        Purpose.CONFIRM_EMAIL: policy.confirmation_link_ttl,
        Purpose.RESET_PASSWORD: policy.password_reset_ttl,
        Purpose.MAGIC_LINK: policy.magic_link_ttl,
        Purpose.CHANGE_EMAIL: policy.email_change_ttl,
        Purpose.CANCEL_DELETION: policy.account_deletion_grace,
    }[purpose]


def code_ttl(purpose: Purpose, security: Security) -> timedelta:
    """How long a code of this purpose works."""
    policy = security.policy
    return policy.magic_link_ttl if purpose is Purpose.MAGIC_LINK else policy.confirmation_code_ttl


def _code_context(row: EmailToken) -> bytes:
    """Binds a code's digest to its token row, so a code cannot be replayed against another row."""
    return f"{row.purpose}:{row.id.hex}".encode()


def browser_digest(nonce: str) -> bytes:
    """What is stored of the random value a browser keeps to prove it asked for a code."""
    return sha256(nonce.encode()).digest()


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: the secrets to put in the mail, and its row."""

    token: str
    code: str | None
    row: EmailToken


async def issue_email_token(
    db: AsyncSession,
    security: Security,
    *,
    user: UserSecurityColumns,
    purpose: Purpose,
    email: str,
    with_code: bool = False,
    browser_nonce: str | None = None,
    pending_password_hash: str | None = None,
) -> IssuedToken:
    """Store a new token for `user`, retiring their unused older ones of the same purpose."""
    now = security.clock.now()
    await db.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user.id, EmailToken.purpose == purpose.value, EmailToken.used_at.is_(None)
        )
        .values(used_at=now)
    )
    token = new_token(security.policy.email_token_bytes)
    row = EmailToken(
        purpose=purpose.value,
        token_hash=token_digest(token),
        user_id=user.id,
        email=email,
        expires_at=now + link_ttl(purpose, security),
        browser_hash=browser_digest(browser_nonce) if browser_nonce else None,
        pending_password_hash=pending_password_hash,
    )
    code = None
    if with_code:
        code = new_code(security.policy.code_digits)
        row.code_expires_at = now + code_ttl(purpose, security)
    db.add(row)
    await db.flush()
    if code is not None:
        row.code_hash = code_digest(code, key=security.code_key, context=_code_context(row))
        await db.flush()
    return IssuedToken(token=token, code=code, row=row)


async def find_live_token(
    db: AsyncSession, security: Security, token: str, purpose: Purpose
) -> EmailToken | None:
    """The unused, unexpired token for a link, without spending it (for the confirmation page)."""
    return await db.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == token_digest(token),
            EmailToken.purpose == purpose.value,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > security.clock.now(),
        )
    )


async def spend_token(
    db: AsyncSession, security: Security, token: str, purpose: Purpose
) -> EmailToken | None:
    """Mark a link's token used, atomically; None when it is unknown, used or expired."""
    now = security.clock.now()
    statement = (
        update(EmailToken)
        .where(
            EmailToken.token_hash == token_digest(token),
            EmailToken.purpose == purpose.value,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(EmailToken)
    )
    return (await db.scalars(statement)).first()


@dataclass(frozen=True)
class CodeProblem:
    """Why a typed code did not work, for the host to put in words.

    `kind` is `throttled` (the address must wait `retry_after` seconds), `wrong` (`tries_left`
    more tries for this code) or `expired` (too old, used up, or not sent to this browser).
    """

    kind: str
    retry_after: int = 0
    tries_left: int = 0

    @classmethod
    def after(cls, check: CodeCheck) -> CodeProblem:
        """The problem a failed check amounts to."""
        if check.outcome is CodeOutcome.WRONG and check.tries_left > 0:
            return cls("wrong", tries_left=check.tries_left)
        return cls("expired")


class CodeOutcome(StrEnum):
    """Result of checking a typed code."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"  # too old, too many tries, or no code was sent to this browser


@dataclass(frozen=True)
class CodeCheck:
    """Outcome, the spent token when accepted, and the tries left when wrong (0: the code is dead)."""

    outcome: CodeOutcome
    token: EmailToken | None = None
    tries_left: int = 0


async def check_code(
    db: AsyncSession, security: Security, *, purpose: Purpose, browser_nonce: str | None, code: str
) -> CodeCheck:
    """Check `code` against the newest unused token this browser asked for.

    A wrong code costs one of the code's tries; the caller commits that even though the request
    fails (otherwise the counter would roll back with it).
    """
    if not browser_nonce:
        return CodeCheck(CodeOutcome.EXPIRED)
    now = security.clock.now()
    row = await db.scalar(
        select(EmailToken)
        .where(
            EmailToken.purpose == purpose.value,
            EmailToken.browser_hash == browser_digest(browser_nonce),
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .order_by(EmailToken.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    limit = security.policy.code_max_attempts
    if (
        row is None
        or row.code_hash is None
        or row.code_expires_at is None
        or now >= row.code_expires_at
        or row.code_attempts >= limit
    ):
        return CodeCheck(CodeOutcome.EXPIRED)
    typed = code_digest(code, key=security.code_key, context=_code_context(row))
    if not digests_match(typed, row.code_hash):
        row.code_attempts += 1
        await db.flush()
        return CodeCheck(CodeOutcome.WRONG, tries_left=limit - row.code_attempts)
    spent = await db.scalars(
        update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .returning(EmailToken)
    )
    token = spent.first()
    return CodeCheck(CodeOutcome.ACCEPTED, token=token) if token else CodeCheck(CodeOutcome.EXPIRED)


async def retire_tokens(db: AsyncSession, security: Security, user_id: UUID, *purposes: Purpose) -> None:
    """Mark the user's unused tokens of these purposes used (e.g. after the address is proven)."""
    await db.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose.in_([p.value for p in purposes]),
            EmailToken.used_at.is_(None),
        )
        .values(used_at=security.clock.now())
    )
