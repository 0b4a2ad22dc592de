"""Authenticator-app codes (TOTP, RFC 6238): enrol, verify once, disable.

The parameters are the ones every authenticator app understands: SHA-1, 6 digits, 30-second
steps, a 160-bit secret from the CSPRNG [47]. The secret is sealed at rest with AES-256-GCM bound
to the user's id, so a value copied into another row does not open [50]. A code is accepted for
the current step and one either side (`totp_valid_window`), and only if its step is newer than the
last step accepted for this user: the compare-and-set is one conditional UPDATE, so two parallel
submissions of one code cannot both win [48].

Enrolment is two steps. `begin_enrolment` stores an unconfirmed secret (replacing an earlier
unconfirmed one) and returns it for the QR code; `confirm_enrolment` activates it only when the
user types a valid code from it [50].
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import TotpCredential
from app.auth.core.tokens import normalize_code
from app.auth.core.toolkit import Security

__all__ = (
    "DIGITS",
    "STEP_SECONDS",
    "Enrolment",
    "accept_code",
    "begin_enrolment",
    "confirm_enrolment",
    "grouped_secret",
    "has_totp",
    "matching_step",
    "remove_totp",
)

DIGITS = 6
STEP_SECONDS = 30
_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation [47]


@dataclass(frozen=True)
class Enrolment:
    """An unconfirmed secret, and what the enrolment page shows of it."""

    secret: str
    """Base32, for typing into an app by hand."""
    uri: str
    """The `otpauth://` URI the QR code carries (issuer and account name for the app's list)."""

    def qr_svg(self) -> str:
        """The URI as an inline SVG QR code (no image request, nothing the CSP forbids)."""
        buffer = io.BytesIO()
        segno.make(self.uri, error="m").save(
            buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="QR code", nl=False
        )
        return buffer.getvalue().decode()


def grouped_secret(secret: str) -> str:
    """The secret in groups of four ("JBSW Y3DP ..."), the way it is easiest to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _context(user_id: UUID) -> bytes:
    return b"totp:" + user_id.bytes


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _open(credential: TotpCredential, security: Security) -> str:
    return security.at_rest.open(credential.secret_sealed, _context(credential.user_id)).decode()


async def begin_enrolment(
    db: AsyncSession, security: Security, user_id: UUID, account_name: str
) -> Enrolment:
    """A new unconfirmed secret for `user_id` (an active one stays active until this one is confirmed)."""
    secret = pyotp.random_base32(length=32)  # 32 base32 characters = 160 bits
    assert len(secret) * 5 // 8 == _SECRET_BYTES
    sealed = security.at_rest.seal(secret.encode(), _context(user_id))
    existing = await db.scalar(select(TotpCredential).where(TotpCredential.user_id == user_id))
    if existing is not None and existing.confirmed_at is not None:
        raise ValueError("an authenticator app is already active; disable it first")
    if existing is None:
        db.add(TotpCredential(user_id=user_id, secret_sealed=sealed))
    else:
        existing.secret_sealed = sealed
        existing.last_used_step = None
    await db.flush()
    uri = _totp(secret).provisioning_uri(name=account_name, issuer_name=security.site_name)
    return Enrolment(secret=secret, uri=uri)


async def pending_enrolment(
    db: AsyncSession, security: Security, user_id: UUID, account_name: str
) -> Enrolment | None:
    """The unconfirmed secret being enrolled, to show again (e.g. after a wrong first code)."""
    credential = await db.scalar(
        select(TotpCredential).where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None))
    )
    if credential is None:
        return None
    secret = _open(credential, security)
    uri = _totp(secret).provisioning_uri(name=account_name, issuer_name=security.site_name)
    return Enrolment(secret=secret, uri=uri)


def matching_step(secret: str, typed: str, now: datetime, window: int) -> int | None:
    """The time step whose code `typed` is, within `window` steps of `now`, or None."""
    code = normalize_code(typed)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    for step in range(current - window, current + window + 1):
        # pyotp's generate_otp is the RFC's HOTP at that counter; compare in constant time.
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


async def confirm_enrolment(db: AsyncSession, security: Security, user_id: UUID, typed: str) -> bool:
    """Activate the unconfirmed secret if `typed` is a valid code from it (its step is spent) [50]."""
    credential = await db.scalar(
        select(TotpCredential)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None))
        .with_for_update()
    )
    if credential is None:
        return False
    now = security.clock.now()
    step = matching_step(_open(credential, security), typed, now, security.policy.totp_valid_window)
    if step is None:
        return False
    credential.confirmed_at = now
    credential.last_used_step = step
    await db.flush()
    return True


async def accept_code(db: AsyncSession, security: Security, user_id: UUID, typed: str) -> bool:
    """True when `typed` is a valid code of the user's active secret that was never accepted before.

    The step is recorded in the same statement that checks it is newer (a conditional UPDATE), so
    the same code sent twice at once succeeds once [48].
    """
    credential = await db.scalar(
        select(TotpCredential).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    if credential is None:
        return False
    step = matching_step(
        _open(credential, security), typed, security.clock.now(), security.policy.totp_valid_window
    )
    if step is None:
        return False
    spent = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.id == credential.id,
            or_(TotpCredential.last_used_step.is_(None), TotpCredential.last_used_step < step),
        )
        .values(last_used_step=step)
        .returning(TotpCredential.id)
        .execution_options(synchronize_session=False)
    )
    return spent.first() is not None


async def has_totp(db: AsyncSession, user_id: UUID) -> bool:
    """Whether the user has an active authenticator app."""
    found = await db.scalar(
        select(TotpCredential.id).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    return found is not None


async def remove_totp(db: AsyncSession, user_id: UUID) -> bool:
    """Delete the user's authenticator app (active or half-enrolled). True if one was active."""
    removed = await db.execute(
        delete(TotpCredential).where(TotpCredential.user_id == user_id).returning(TotpCredential.confirmed_at)
    )
    return any(confirmed is not None for (confirmed,) in removed.all())
