"""Random tokens and short codes that prove someone received something, kept only as digests.

Sessions and every mailed link (confirmation, reset, magic link, email change) carry a 256-bit
random token, and the database stores only its SHA-256 [17][32][36][42]: a leaked table or backup
cannot be replayed, and a plain hash suffices because 256 random bits cannot be guessed. A 6-digit
code can be: there are only a million. So codes are digested with HMAC under a server key and
bound to their purpose and owner (`context`), and a stolen digest is useless without the key [33].

Remember-me cookies are `selector.validator` [26]: the selector finds the row with an ordinary
indexed lookup, and only the validator's digest is compared, in constant time.

Expiry is "now >= expires_at", with the clock injected, so a token is valid strictly before it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import datetime

from app.auth.core.clock import Clock

__all__ = (
    "code_digest",
    "digests_match",
    "is_expired",
    "join_selector_validator",
    "new_code",
    "new_selector_validator",
    "new_token",
    "normalize_code",
    "split_selector_validator",
    "token_digest",
)

_MIN_TOKEN_BYTES = 16  # 128 bits, the floor for anything an attacker might try to guess
_SELECTOR_BYTES = 12
_VALIDATOR_BYTES = 32
# token_urlsafe(n) is n bytes in unpadded base64url: 16 characters for 12 bytes, 43 for 32.
_COOKIE = re.compile(r"[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}")
_CODE_SEPARATORS = str.maketrans("", "", "-\u2010\u2011\u2012\u2013\u2014\u2212")


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token of `nbytes` random bytes (default 256 bits)."""
    if nbytes < _MIN_TOKEN_BYTES:
        raise ValueError(f"tokens need at least {_MIN_TOKEN_BYTES} random bytes")
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> bytes:
    """The SHA-256 of a token (32 bytes): what the database stores and looks up."""
    return hashlib.sha256(token.encode()).digest()


def new_code(digits: int = 6) -> str:
    """A uniformly random numeric code, zero-padded to `digits` digits."""
    if digits < 6:
        raise ValueError("codes need at least 6 digits")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def normalize_code(typed: str) -> str:
    """A code as typed, made comparable: NFKC (full-width digits), spaces and hyphens removed."""
    text = unicodedata.normalize("NFKC", typed).translate(_CODE_SEPARATORS)
    return "".join(text.split())


def code_digest(code: str, *, key: bytes, context: bytes) -> bytes:
    """HMAC-SHA256 of the normalized code under `key`, bound to `context` (purpose, user, address)."""
    if len(key) < _MIN_TOKEN_BYTES:
        raise ValueError(f"the code key needs at least {_MIN_TOKEN_BYTES} bytes")
    if b"\x00" in context:
        # NUL separates context from code; allowing it would let two contexts produce the same input.
        raise ValueError("context must not contain NUL bytes")
    message = context + b"\x00" + normalize_code(code).encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def digests_match(a: bytes | None, b: bytes | None) -> bool:
    """Constant-time equality of two digests; a missing or empty one never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a, b)


def new_selector_validator() -> tuple[str, str]:
    """A fresh remember-me pair: a 12-byte selector (stored as is) and a 32-byte validator (stored hashed)."""
    return secrets.token_urlsafe(_SELECTOR_BYTES), secrets.token_urlsafe(_VALIDATOR_BYTES)


def join_selector_validator(selector: str, validator: str) -> str:
    """The cookie value for a pair: "selector.validator"."""
    return f"{selector}.{validator}"


def split_selector_validator(cookie: str) -> tuple[str, str] | None:
    """(selector, validator) from a remember-me cookie, or None when it is not one we could have made."""
    if not _COOKIE.fullmatch(cookie):
        return None
    selector, _, validator = cookie.partition(".")
    return selector, validator


def is_expired(expires_at: datetime, clock: Clock) -> bool:
    """True from the instant `expires_at` is reached."""
    return clock.now() >= expires_at
