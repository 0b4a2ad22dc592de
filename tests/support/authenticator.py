"""A passkey authenticator in software, for tests: what a browser and its authenticator would send.

It makes the two JSON objects a page posts after `navigator.credentials.create()` and `.get()`
(`credential.toJSON()`): client data, authenticator data with its flags and signature counter, a
"none" attestation, and ES256 (P-256) signatures. Every part a test wants to get wrong can be
overridden: the origin, the client data type, the user-verified flag, the counter, the user handle.

    authenticator = SoftAuthenticator()
    created = authenticator.create(options)          # options: the server's JSON
    asserted = authenticator.get(options)            # signs with the passkey the options allow
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.web import BASE_URL

FLAG_UP = 0x01
"""User present."""
FLAG_UV = 0x04
"""User verified (PIN, fingerprint...)."""
FLAG_BE = 0x08
"""Backup eligible: a synced passkey."""
FLAG_BS = 0x10
"""Backed up."""
FLAG_AT = 0x40
"""Attested credential data follows (registration)."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as WebAuthn's JSON forms use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    """The bytes of unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Passkey:
    """One credential the authenticator holds."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        """The public key as COSE_Key (EC2, P-256, ES256)."""
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )


@dataclass
class SoftAuthenticator:
    """A platform authenticator with resident keys and user verification (tests only)."""

    origin: str = BASE_URL
    aaguid: bytes = bytes(16)
    passkeys: list[Passkey] = field(default_factory=list)

    # --- navigator.credentials.create()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        client_type: str = "webauthn.create",
        user_verified: bool = True,
        credential_id: bytes | None = None,
        backed_up: bool = False,
    ) -> dict[str, Any]:
        """A new passkey for the user and relying party of `options`; the registration JSON."""
        rp_id = options["rp"]["id"]
        passkey = Passkey(
            credential_id=credential_id or os.urandom(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            user_handle=from_b64url(options["user"]["id"]),
            rp_id=rp_id,
        )
        self.passkeys.append(passkey)
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        if backed_up:
            flags |= FLAG_BE | FLAG_BS
        attested = (
            self.aaguid
            + struct.pack(">H", len(passkey.credential_id))
            + passkey.credential_id
            + passkey.cose_public_key()
        )
        auth_data = _rp_id_hash(rp_id) + bytes([flags]) + struct.pack(">I", passkey.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data(client_type, options["challenge"], origin or self.origin)
        return {
            "id": b64url(passkey.credential_id),
            "rawId": b64url(passkey.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    # --- navigator.credentials.get()

    def get(
        self,
        options: dict[str, Any],
        passkey: Passkey | None = None,
        *,
        origin: str | None = None,
        client_type: str = "webauthn.get",
        user_verified: bool = True,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """An assertion for `options`, by `passkey` or the one the options allow (else the newest)."""
        passkey = passkey or self.choose(options)
        passkey.sign_count = passkey.sign_count + 1 if sign_count is None else sign_count
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        auth_data = _rp_id_hash(options["rpId"]) + bytes([flags]) + struct.pack(">I", passkey.sign_count)
        client_data = _client_data(client_type, options["challenge"], origin or self.origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = passkey.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(passkey.credential_id),
            "rawId": b64url(passkey.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(passkey.user_handle if user_handle is None else user_handle),
            },
        }

    def choose(self, options: dict[str, Any]) -> Passkey:
        """The passkey a browser would offer: one the options allow, else the newest for the RP."""
        allowed = {from_b64url(item["id"]) for item in options.get("allowCredentials") or []}
        candidates = [
            p
            for p in self.passkeys
            if p.rp_id == options["rpId"] and (not allowed or p.credential_id in allowed)
        ]
        if not candidates:
            raise LookupError("the authenticator holds no passkey these options accept")
        return candidates[-1]


def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def _client_data(client_type: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": client_type, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()
