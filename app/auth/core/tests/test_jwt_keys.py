"""The API JWT key set [79]: configured keys only, one active, rotation keeps old tokens verifiable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.auth.core.jwt_tokens import JwtKeys

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISS, AUD = "https://app.example", "https://app.example/api"


def _pem(private: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _claims(**changes: object) -> dict[str, object]:
    at = int(NOW.timestamp())
    base = {"iss": ISS, "aud": AUD, "sub": "u", "sid": "s", "jti": "j", "iat": at, "nbf": at, "exp": at + 900}
    return {**base, **changes}


def test_rotation_signs_with_the_new_key_and_still_verifies_the_old() -> None:
    old_pem, new_pem = _pem(Ed25519PrivateKey.generate()), _pem(ec.generate_private_key(ec.SECP256R1()))
    before = JwtKeys.from_pem([("2026-11", "Ed25519", old_pem)])
    old_token = before.sign(_claims())
    after = JwtKeys.from_pem([("2026-11", "Ed25519", old_pem), ("2026-12", "ES256", new_pem)], "2026-12")
    new_token = after.sign(_claims())
    assert after.verify(old_token, now=NOW, issuer=ISS, audience=AUD) is not None
    assert after.verify(new_token, now=NOW, issuer=ISS, audience=AUD) is not None
    assert before.verify(new_token, now=NOW, issuer=ISS, audience=AUD) is None, "an unknown kid is refused"
    dropped = JwtKeys.from_pem([("2026-12", "ES256", new_pem)])
    assert dropped.verify(old_token, now=NOW, issuer=ISS, audience=AUD) is None


def test_claims_are_checked_on_the_given_clock() -> None:
    keys = JwtKeys.derived(b"k" * 32)
    token = keys.sign(_claims())
    assert keys.verify(token, now=NOW + timedelta(seconds=899), issuer=ISS, audience=AUD) is not None
    assert keys.verify(token, now=NOW + timedelta(seconds=900), issuer=ISS, audience=AUD) is None
    assert keys.verify(token, now=NOW - timedelta(seconds=1), issuer=ISS, audience=AUD) is None
    for missing in ("sid", "jti", "nbf", "exp", "aud"):
        partial = {k: v for k, v in _claims().items() if k != missing}
        assert keys.verify(keys.sign(partial), now=NOW, issuer=ISS, audience=AUD) is None, missing


def test_the_derived_key_is_the_same_in_every_process() -> None:
    assert JwtKeys.derived(b"s" * 32).active.kid == JwtKeys.derived(b"s" * 32).active.kid
    assert JwtKeys.derived(b"s" * 32).active.kid != JwtKeys.derived(b"t" * 32).active.kid


@pytest.mark.parametrize(
    ("kid", "alg", "private"),
    [
        ("k1", "ES256", Ed25519PrivateKey.generate()),  # the key does not fit the algorithm
        ("k1", "Ed25519", ec.generate_private_key(ec.SECP384R1())),
        ("k1", "HS256", Ed25519PrivateKey.generate()),  # not in the allowlist
        ("../../dev/null", "Ed25519", Ed25519PrivateKey.generate()),
    ],
)
def test_a_key_that_does_not_fit_is_refused_at_startup(kid: str, alg: str, private: object) -> None:
    with pytest.raises(ValueError, match="API JWT key"):
        JwtKeys.from_pem([(kid, alg, _pem(private))])  # type: ignore[arg-type]
