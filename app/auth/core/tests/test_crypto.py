"""Sealed values: they open only with the right key and context, and say when they need a re-key."""

from __future__ import annotations

import pytest

from app.auth.core.crypto import Cipher, DecryptionError, derive_key

KEY = derive_key(b"s" * 48, "test/v1")


def test_seal_and_open_round_trip_with_a_fresh_nonce_each_time() -> None:
    cipher = Cipher({"k1": KEY}, active="k1")
    first, second = cipher.seal(b"secret", b"row-1"), cipher.seal(b"secret", b"row-1")
    assert first != second
    assert first.startswith("k1.")
    assert b"secret" not in first.encode()
    assert cipher.open(first, b"row-1") == b"secret"


def test_a_value_moved_to_another_context_does_not_open() -> None:
    cipher = Cipher({"k1": KEY}, active="k1")
    sealed = cipher.seal(b"token of user A", b"user-a")
    with pytest.raises(DecryptionError):
        cipher.open(sealed, b"user-b")


def test_tampering_is_detected() -> None:
    cipher = Cipher({"k1": KEY}, active="k1")
    sealed = cipher.seal(b"secret")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(DecryptionError):
        cipher.open(flipped)
    with pytest.raises(DecryptionError):
        cipher.open("nope.%%%")
    with pytest.raises(DecryptionError):
        cipher.open("k9." + sealed.split(".", 1)[1])


def test_old_keys_still_open_and_report_that_they_need_a_rekey() -> None:
    old, new = derive_key(b"s" * 48, "test/v1"), derive_key(b"s" * 48, "test/v2")
    sealed = Cipher({"k1": old}, active="k1").seal(b"value")
    rotated = Cipher({"k1": old, "k2": new}, active="k2")
    assert rotated.open(sealed) == b"value"
    assert rotated.needs_rekey(sealed)
    assert not rotated.needs_rekey(rotated.seal(b"value"))


def test_purposes_get_unrelated_keys() -> None:
    assert derive_key(b"s" * 48, "a") != derive_key(b"s" * 48, "b")
    assert len(derive_key(b"s" * 48, "a")) == 32


def test_bad_key_material_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Cipher({"k1": b"short"}, active="k1")
    with pytest.raises(ValueError, match="active"):
        Cipher({"k1": KEY}, active="k2")
