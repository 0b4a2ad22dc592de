"""Authenticated encryption of small secrets at rest (AES-256-GCM with key ids).

Used for anything that must be read back later but must not sit in the database or the job
queue in the clear: links with tokens in queued mail, TOTP secrets, OAuth provider tokens.

A sealed value is `<kid>.<base64url(nonce || ciphertext || tag)>`. The key id lets a deployment add
a new key and keep reading values sealed under the old one while they are re-encrypted. The
optional associated data binds a ciphertext to its context (e.g. a row id), so a value copied
into another row fails to open instead of decrypting as someone else's secret.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ("Cipher", "DecryptionError", "derive_key")

_NONCE_BYTES = 12  # 96-bit random nonce, the size GCM is designed for


class DecryptionError(ValueError):
    """A sealed value could not be opened: wrong key, wrong context, or tampered."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the application secret with HKDF-SHA256.

    Separate purposes get unrelated keys, so a key leaked from one use cannot open another's data.
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


class Cipher:
    """Seals and opens values with AES-256-GCM under the active key; opens with any known key."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active key id {active!r} is not among the keys")
        for kid, key in keys.items():
            if "." in kid or not kid:
                raise ValueError("key ids must be non-empty and contain no '.'")
            if len(key) != 32:
                raise ValueError(f"key {kid!r} must be 32 bytes for AES-256")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active

    def seal(self, plaintext: bytes, context: bytes = b"") -> str:
        """Encrypt `plaintext`, binding it to `context`."""
        nonce = os.urandom(_NONCE_BYTES)
        body = nonce + self._keys[self._active].encrypt(nonce, plaintext, context)
        return f"{self._active}.{base64.urlsafe_b64encode(body).decode().rstrip('=')}"

    def open(self, sealed: str, context: bytes = b"") -> bytes:
        """Decrypt a value made by `seal` with the same `context`; raise `DecryptionError` otherwise."""
        kid, _, encoded = sealed.partition(".")
        aead = self._keys.get(kid)
        if aead is None or not encoded:
            raise DecryptionError("unknown key id or malformed value")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise DecryptionError("malformed value") from exc
        nonce, ciphertext = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, ciphertext, context)
        except InvalidTag as exc:
            raise DecryptionError("value does not open under this key and context") from exc

    def needs_rekey(self, sealed: str) -> bool:
        """True when `sealed` was made under a key other than the active one."""
        return sealed.partition(".")[0] != self._active
