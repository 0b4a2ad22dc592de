"""Tokens and codes: random, digested at rest, compared in constant time, expiring on time [17][32][33][36][42]."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from app.auth.core.clock import FrozenClock
from app.auth.core.tokens import (
    code_digest,
    digests_match,
    is_expired,
    join_selector_validator,
    new_code,
    new_selector_validator,
    new_token,
    normalize_code,
    split_selector_validator,
    token_digest,
)

KEY = b"k" * 32


def fullwidth(text: str) -> str:
    """`text` in full-width forms ("/" becomes U+FF0F), which NFKC folds back to ASCII."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


def test_tokens_are_unique_and_carry_256_bits() -> None:
    tokens = {new_token() for _ in range(10_000)}
    assert len(tokens) == 10_000
    assert all(len(token) >= 43 for token in tokens)


def test_tokens_shorter_than_128_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        new_token(8)


def test_digest_is_32_bytes_and_not_the_token() -> None:
    token = new_token()
    digest = token_digest(token)
    assert len(digest) == 32
    assert digest != token.encode()
    assert token.encode() not in digest
    assert token_digest(token) == digest


def test_codes_are_six_digits_with_leading_zeros() -> None:
    codes = [new_code() for _ in range(5_000)]
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert any(code.startswith("0") for code in codes)


def test_code_digits_are_roughly_uniform_in_every_position() -> None:
    codes = [new_code() for _ in range(10_000)]
    for position in range(6):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set("0123456789")
        # Each digit expects 1,000; 800..1,200 is over six standard deviations either side.
        assert all(800 <= count <= 1_200 for count in counts.values()), counts


def test_codes_shorter_than_six_digits_are_refused() -> None:
    assert len(new_code(8)) == 8
    with pytest.raises(ValueError, match="6 digits"):
        new_code(4)


@pytest.mark.parametrize(
    "typed", ["123456", " 12 34-56 ", fullwidth("123456"), "123\u2013456", "12\u00a034\t56"]
)
def test_typed_codes_are_normalized(typed: str) -> None:
    assert normalize_code(typed) == "123456"


def test_code_digest_accepts_the_code_however_it_was_typed() -> None:
    assert code_digest(" 12 34-56 ", key=KEY, context=b"confirm") == code_digest(
        "123456", key=KEY, context=b"confirm"
    )


def test_code_digest_depends_on_context_and_key() -> None:
    digest = code_digest("123456", key=KEY, context=b"confirm:user-1")
    assert len(digest) == 32
    assert digest != code_digest("123456", key=KEY, context=b"confirm:user-2")
    assert digest != code_digest("123456", key=b"j" * 32, context=b"confirm:user-1")
    assert digest != code_digest("123457", key=KEY, context=b"confirm:user-1")


def test_code_digest_refuses_a_short_key_or_a_nul_in_the_context() -> None:
    with pytest.raises(ValueError, match="key"):
        code_digest("123456", key=b"short", context=b"confirm")
    with pytest.raises(ValueError, match="NUL"):
        code_digest("123456", key=KEY, context=b"confirm\x00x")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (b"x" * 32, b"x" * 32, True),
        (b"x" * 32, b"y" * 32, False),
        (b"x" * 32, b"x" * 31, False),
        (None, b"x" * 32, False),
        (b"x" * 32, None, False),
        (None, None, False),
        (b"", b"", False),
    ],
)
def test_digests_match(a: bytes | None, b: bytes | None, expected: bool) -> None:
    assert digests_match(a, b) is expected


def test_selector_and_validator_round_trip_through_the_cookie() -> None:
    selector, validator = new_selector_validator()
    assert (len(selector), len(validator)) == (16, 43)
    assert split_selector_validator(join_selector_validator(selector, validator)) == (selector, validator)


def test_selector_validator_pairs_are_fresh() -> None:
    assert new_selector_validator() != new_selector_validator()


@pytest.mark.parametrize(
    "cookie",
    [
        "",
        ".",
        "abc.def",
        "A" * 16 + "A" * 43,  # no separator
        "A" * 16 + "." + "A" * 42,  # validator too short
        "A" * 17 + "." + "A" * 43,  # selector too long
        "A" * 16 + "." + "A" * 43 + ".x",
        "A" * 16 + "." + "A" * 42 + "=",  # padding is not base64url as we write it
        "A" * 16 + "." + "A" * 42 + "+",
        "A" * 16 + "." + "A" * 43 + "\n",
        fullwidth("A" * 16) + "." + "A" * 43,
    ],
)
def test_malformed_cookies_are_refused(cookie: str) -> None:
    assert split_selector_validator(cookie) is None


def test_token_expires_exactly_at_its_expiry() -> None:
    clock = FrozenClock()
    expires_at = clock.now() + timedelta(minutes=10)
    clock.set(expires_at - timedelta(microseconds=1))
    assert not is_expired(expires_at, clock)
    clock.set(expires_at)
    assert is_expired(expires_at, clock)
    clock.advance(timedelta(seconds=1))
    assert is_expired(expires_at, clock)
