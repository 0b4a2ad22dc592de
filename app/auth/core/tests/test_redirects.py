"""Redirect targets from the request stay on this site [82]."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.auth.core.redirects import safe_redirect_target


def fullwidth(text: str) -> str:
    """`text` in full-width forms ("/" becomes U+FF0F), which NFKC folds back to ASCII."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "/\\evil.com",
        "/%2F%2Fevil.com",
        "/%2f%2fevil.com",
        "/%2F/evil.com",
        "/%5Cevil.com",
        "/x\\y",
        "https:evil.com",
        "https://evil.com",
        "/%09/evil.com",
        "/\t/evil.com",
        "/%0d%0aLocation:%20x",
        "/x\r\nLocation: https://evil.com",
        "\\\\evil.com",
        fullwidth("//") + "evil.com",
        fullwidth("/") + "\\evil.com",
        "/%EF%BC%8F/evil.com",  # percent-encoded full-width solidus
        "javascript:alert(1)",
        "",
        None,
        "evil.com",
        "%2Fsettings",
        " /x",
        "/x y",
        "/\u200bx",  # zero-width space
        "/%E2%80%A8x",  # encoded line separator
        "/x%00",
        "/" + "a" * 2_048,
    ],
)
def test_unsafe_targets_fall_back_to_the_default(target: str | None) -> None:
    assert safe_redirect_target(target) == "/"


@pytest.mark.parametrize(
    "target", ["/", "/settings?tab=1", "/a/b#frag", "/search?q=a%20b", "/a:b", "/%252F%252Fx"]
)
def test_local_paths_are_kept_as_given(target: str) -> None:
    assert safe_redirect_target(target) == target


def test_the_default_is_configurable() -> None:
    assert safe_redirect_target("//evil.com", default="/dashboard") == "/dashboard"


def test_non_ascii_paths_are_percent_encoded() -> None:
    assert safe_redirect_target("/café") == "/caf%C3%A9"


def _is_single_slash_path(value: str) -> bool:
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc and value.startswith("/") and value[1:2] not in ("/", "\\")


@given(st.one_of(st.text(), st.text().map("/".__add__)))
def test_any_text_becomes_the_default_or_a_local_path(target: str) -> None:
    result = safe_redirect_target(target, default="/home")
    assert result == "/home" or (result.isascii() and _is_single_slash_path(result))
    # Still local after the decoding a careless consumer might do.
    assert _is_single_slash_path(unicodedata.normalize("NFKC", unquote(result)))


@given(st.from_regex(r"/[/\\%0-9A-Fa-f:.@a-z\t ]{0,12}", fullmatch=True))
def test_slash_heavy_text_becomes_the_default_or_a_local_path(target: str) -> None:
    result = safe_redirect_target(target, default="/home")
    assert result == "/home" or _is_single_slash_path(unquote(result))
