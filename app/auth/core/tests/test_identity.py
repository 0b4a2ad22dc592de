"""Email normalization and the canonical uniqueness key [46]."""

from __future__ import annotations

import pytest

from app.auth.core.identity import InvalidEmail, canonical_email, is_mixed_script, normalize_email

CYRILLIC_O = "\u043e"


def fullwidth(text: str) -> str:
    """`text` in full-width forms ("/" becomes U+FF0F), which NFKC folds back to ASCII."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


@pytest.mark.parametrize(
    "variant",
    [
        "Bob@Example.COM",
        "bob@example.com",
        "  bob@example.com ",
        fullwidth("bob") + "@example.com",
        "bob" + fullwidth("@EXAMPLE.com"),
    ],
)
def test_variants_of_one_address_share_a_canonical_value(variant: str) -> None:
    assert canonical_email(variant) == "bob@example.com"


def test_punycode_and_unicode_domains_share_a_canonical_value() -> None:
    assert canonical_email("bob@xn--exmple-cua.com") == canonical_email("bob@exämple.com")
    assert canonical_email("Bob@EXÄMPLE.com") == "bob@xn--exmple-cua.com"


def test_normalized_form_keeps_the_local_part_and_shows_the_unicode_domain() -> None:
    assert normalize_email(" Bob.Smith@Example.COM ") == "Bob.Smith@example.com"
    assert normalize_email("bob@xn--exmple-cua.com") == "bob@exämple.com"
    assert normalize_email(fullwidth("bob") + "@example.com") == "bob@example.com"


def test_dots_and_plus_tags_are_kept() -> None:
    assert canonical_email("J.Doe+news@example.com") == "j.doe+news@example.com"
    assert canonical_email("j.doe@example.com") != canonical_email("jdoe@example.com")


def test_lookalike_domain_is_a_different_address_and_is_flagged() -> None:
    lookalike = f"bob@{CYRILLIC_O}utlook.com"
    assert canonical_email(lookalike) != canonical_email("bob@outlook.com")
    assert canonical_email(lookalike) == "bob@xn--utlook-vqf.com"
    assert is_mixed_script(lookalike.split("@")[1])
    assert is_mixed_script(canonical_email(lookalike).split("@")[1])  # flagged in punycode too
    assert not is_mixed_script("outlook.com")


@pytest.mark.parametrize(
    "domain", ["exämple.com", "пример.рф", "日本語ひらがなカタカナ.jp", "bücher.de", "ελληνικά.gr"]
)
def test_single_script_and_customary_mixes_are_not_flagged(domain: str) -> None:
    assert not is_mixed_script(domain)


@pytest.mark.parametrize("domain", ["p\u0430ypal.com", "g\u03bfogle.com", "shop.\u0440aypal.com"])
def test_latin_mixed_with_cyrillic_or_greek_is_flagged(domain: str) -> None:
    assert is_mixed_script(domain)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a@b\r\nBcc: x@y", "line breaks"),
        ('"a b"@c.com', "spaces"),
        ('"ab"@c.com', "Quoting"),
        ("bob@exa\u200bmple.com", "invisible"),
        ("bob", "@-sign"),
        ("bob@", "after the @-sign"),
        ("bob@localhost", "period"),
        ("bob@[127.0.0.1]", "bracketed"),
        ("Bob <bob@example.com>", "spaces"),
        ("", "@-sign"),
    ],
)
def test_garbage_is_refused_with_a_readable_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidEmail, match=reason):
        normalize_email(raw)
    with pytest.raises(InvalidEmail):
        canonical_email(raw)


@pytest.mark.parametrize("raw", ["a" * 300 + "@example.com", "bob@" + "a" * 400 + ".com", "x" * 1_000_000])
def test_very_long_input_is_refused(raw: str) -> None:
    with pytest.raises(InvalidEmail, match="too long"):
        normalize_email(raw)


def test_invalid_email_is_a_value_error() -> None:
    assert issubclass(InvalidEmail, ValueError)
