"""Webhook signatures (Standard Webhooks) without a network: sign, verify, tolerate, rotate."""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.auth.core.webhooks import SECRET_PREFIX, new_secret, sign, verify

BODY = b'{"type":"project.created"}'


def test_a_signature_is_hmac_sha256_of_id_timestamp_and_body() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign([secret], "msg_1", 1_700_000_000, BODY) == f"v1,{expected}"


def test_secrets_are_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_verify_accepts_the_right_secret_within_the_tolerance_only() -> None:
    secret = new_secret()
    header = sign([secret], "msg_1", 1_000, BODY)
    assert verify(secret, "msg_1", 1_000, BODY, header, now=1_200)
    assert not verify(secret, "msg_1", 1_000, BODY, header, now=1_301)
    assert not verify(secret, "msg_2", 1_000, BODY, header, now=1_000)
    assert not verify(new_secret(), "msg_1", 1_000, BODY, header, now=1_000)
    assert not verify(secret, "msg_1", 1_000, BODY + b" ", header, now=1_000)


def test_during_rotation_both_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    header = sign([new, old], "msg_1", 1_000, BODY)
    assert len(header.split()) == 2
    assert verify(new, "msg_1", 1_000, BODY, header, now=1_000)
    assert verify(old, "msg_1", 1_000, BODY, header, now=1_000)
