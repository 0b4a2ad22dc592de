"""The stored form of a claimed domain, and the domains nobody may claim."""

from __future__ import annotations

import pytest

from app.auth.core.domain_names import InvalidDomain, display_domain, normalize_domain


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Acme-Widgets.IO.", "acme-widgets.io"),
        ("https://acme-widgets.io/about", "acme-widgets.io"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("ＡＣＭＥ.ｃｏｍ", "acme.com"),
    ],
)
def test_a_domain_is_stored_in_one_ascii_form(typed: str, stored: str) -> None:
    assert normalize_domain(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["gmail.com", "Outlook.com", "co.uk", "github.io", "localhost", "10.0.0.1", "a..b", "ada@acme.com", ""],
)
def test_free_mail_shared_suffixes_and_non_domains_are_refused(typed: str) -> None:
    with pytest.raises(InvalidDomain):
        normalize_domain(typed)


def test_a_stored_domain_reads_back_in_unicode() -> None:
    assert display_domain("xn--bcher-kva.de") == "bücher.de"
    assert display_domain("acme.com") == "acme.com"
