"""Backup codes: single-use codes for when the authenticator app is out of reach [51][52].

A set is `backup_code_count` (10) codes of 16 Crockford base32 characters, shown as
`XXXX-XXXX-XXXX-XXXX`. The first group is a non-secret id, unique within the user's set, that
selects the one stored row to compare with, so a wrong attempt costs one comparison rather than
ten [52]; the other 12 characters carry 60 random bits. Only an HMAC of the whole code under a
server key is stored (a stolen table is useless without the key). Typed codes are accepted in any
case, with or without hyphens or spaces, and Crockford's look-alikes (O→0, I/L→1) are read as
meant. A code is spent by a conditional UPDATE, so two parallel uses of one code succeed once.

Regenerating replaces the whole set; the old codes stop working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import BackupCode
from app.auth.core.toolkit import Security

__all__ = ("ALPHABET", "count_unused", "generate_codes", "normalize", "remove_codes", "spend_code")

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives."""
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_LENGTH = 16
_LOOKUP = 4


def _random_group(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalize(typed: str) -> str | None:
    """The 16 characters of a typed code, upper-cased and without separators; None if it cannot be one."""
    text = "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_LOOKALIKES)
    if len(text) != _LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def _digest(code: str, user_id: UUID, security: Security) -> bytes:
    return hmac.new(security.backup_code_key, user_id.bytes + code.encode(), hashlib.sha256).digest()


async def generate_codes(db: AsyncSession, security: Security, user_id: UUID) -> list[str]:
    """A new set for the user, replacing any old one; the codes are returned once, for display."""
    await remove_codes(db, user_id)
    lookups: set[str] = set()
    while len(lookups) < security.policy.backup_code_count:
        lookups.add(_random_group(_LOOKUP))
    codes = [lookup + _random_group(_LENGTH - _LOOKUP) for lookup in sorted(lookups)]
    db.add_all(
        BackupCode(user_id=user_id, lookup=code[:_LOOKUP], digest=_digest(code, user_id, security))
        for code in codes
    )
    await db.flush()
    return ["-".join(code[i : i + 4] for i in range(0, _LENGTH, 4)) for code in codes]


async def spend_code(db: AsyncSession, security: Security, user_id: UUID, typed: str) -> bool:
    """True when `typed` is one of the user's unused codes; it is used up in the same statement."""
    code = normalize(typed)
    if code is None:
        return False
    row = await db.execute(
        select(BackupCode.id, BackupCode.digest).where(
            BackupCode.user_id == user_id, BackupCode.lookup == code[:_LOOKUP], BackupCode.used_at.is_(None)
        )
    )
    found = row.first()
    if found is None or not hmac.compare_digest(found.digest, _digest(code, user_id, security)):
        return False
    spent = await db.execute(
        update(BackupCode)
        .where(BackupCode.id == found.id, BackupCode.used_at.is_(None))
        .values(used_at=security.clock.now())
        .returning(BackupCode.id)
        .execution_options(synchronize_session=False)
    )
    return spent.first() is not None


async def count_unused(db: AsyncSession, user_id: UUID) -> int:
    """How many of the user's backup codes are left."""
    count = await db.scalar(
        select(func.count()).where(BackupCode.user_id == user_id, BackupCode.used_at.is_(None))
    )
    return int(count or 0)


async def remove_codes(db: AsyncSession, user_id: UUID) -> None:
    """Delete the user's whole set."""
    await db.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
