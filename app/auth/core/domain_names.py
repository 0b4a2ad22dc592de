"""Domain names an organization may claim: one stored form, and the names nobody may claim.

`normalize_domain` turns what an admin typed (`Acme.COM.`, `exämple.com`, `https://acme.com/`)
into the one form that is stored, compared and looked up: lower-case ASCII labels, IDNA 2008
(punycode for non-ASCII labels), no trailing dot. It is the same form `canonical_email` gives an
address's domain, so "this person's address is at a verified domain" is a plain string equality.

Refused, because a claim on them would let one organization take in people it has no tie to:

- names with fewer than two labels, or a top-level label that is not a word (`localhost`, `10.0.0.1`);
- shared suffixes under which unrelated parties register names (`co.uk`, `github.io`, ...): a
  short built-in list, not the whole Public Suffix List; a fork that needs the full list can
  extend `SHARED_SUFFIXES`;
- free and consumer mail providers (`gmail.com`, `outlook.com`, ...): everyone can have an address
  there, so an address there says nothing about belonging to an organization (`FREE_MAIL`).
"""

from __future__ import annotations

import re
import unicodedata

import idna

__all__ = ("FREE_MAIL", "SHARED_SUFFIXES", "InvalidDomain", "display_domain", "normalize_domain")

_NATIONAL_SECOND_LEVELS = ("co", "com", "net", "org", "ac", "gov", "edu")
_NATIONAL_TLDS = (
    "uk",
    "au",
    "nz",
    "jp",
    "br",
    "in",
    "za",
    "kr",
    "cn",
    "tw",
    "mx",
    "ar",
    "tr",
    "il",
    "sg",
    "hk",
)

SHARED_SUFFIXES = frozenset(
    {
        *(f"{second}.{tld}" for second in _NATIONAL_SECOND_LEVELS for tld in _NATIONAL_TLDS),
        "github.io",
        "gitlab.io",
        "herokuapp.com",
        "netlify.app",
        "vercel.app",
        "pages.dev",
        "workers.dev",
        "azurewebsites.net",
        "cloudfront.net",
        "appspot.com",
        "firebaseapp.com",
        "web.app",
        "blogspot.com",
        "wordpress.com",
        "fly.dev",
        "onrender.com",
        "ngrok.io",
        "ngrok-free.app",
    }
)
"""Suffixes under which anyone can get a name: a claim on the suffix itself is refused."""

FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "fastmail.com",
        "tutanota.com",
        "tuta.io",
        "hey.com",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "example.com",
        "example.org",
        "example.net",
    }
)
"""Mail providers anyone can sign up with (plus the documentation domains of RFC 2606)."""

_MAX_LENGTH = 253
_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the label separators IDNA accepts
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


class InvalidDomain(ValueError):  # noqa: N818 (the API's name: the domain is invalid)
    """A domain that cannot be claimed; the message says why, in words for the admin."""


def normalize_domain(raw: str) -> str:
    """The stored form of a typed domain (lower-case ASCII, IDNA 2008), or `InvalidDomain`."""
    text = unicodedata.normalize("NFKC", raw.strip())[: _MAX_LENGTH * 2]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.IGNORECASE).split("/", 1)[0]
    if "@" in text:
        raise InvalidDomain("Enter the domain only (acme.com), not an email address.")
    labels = _DOTS.split(text.rstrip(".\u3002\uff0e\uff61"))
    if len(labels) < 2 or any(not label for label in labels):
        raise InvalidDomain("Enter a domain such as acme.com.")
    try:
        ascii_name = idna.encode(".".join(labels), uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidDomain("That is not a valid domain name.") from exc
    if len(ascii_name) > _MAX_LENGTH or not _TLD.fullmatch(ascii_name.rsplit(".", 1)[1]):
        raise InvalidDomain("That is not a valid domain name.")
    if ascii_name in SHARED_SUFFIXES:
        raise InvalidDomain("That is a shared suffix that many unrelated sites use. Enter your own domain.")
    if ascii_name in FREE_MAIL:
        raise InvalidDomain(
            "Anyone can have an address at that mail provider, so it cannot tie people to an organization."
        )
    return ascii_name


def display_domain(ascii_name: str) -> str:
    """The Unicode form of a stored domain, for people to read (the ASCII form if it cannot be decoded)."""
    try:
        return str(idna.decode(ascii_name))
    except (idna.IDNAError, UnicodeError):
        return ascii_name
