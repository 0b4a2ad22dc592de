"""Email addresses: the form we store and show, and the key that makes an account unique [46].

`normalize_email` is the address as typed, cleaned up: NFKC (full-width letters become plain ones),
checked by email-validator without DNS lookups, the domain lower-cased and IDNA-normalized. The
local part keeps its case because that is how the owner writes it.

`canonical_email` is the uniqueness and lookup key: the local part lower-cased and the domain in
its ASCII (punycode) form, so `Bob@Example.COM`, `bob@exämple.com` and `bob@xn--exmple-cua.com`
each belong to one account whichever way they are typed.

Local-part policy. We lower-case it: practically every provider delivers case-insensitively, and
two accounts differing only in case would invite confusion and impersonation. We do *not* drop
dots or "+tags": those rules belong to particular providers (Gmail ignores dots, most others do
not; some use "-" for tags), so applying them everywhere would merge the accounts of different
people whose mailboxes really are distinct. Someone who signs up as `me+a@` and `me+b@` gets two
accounts, each confirmed through the same inbox, which is what they asked for.

`is_mixed_script` flags labels that mix writing systems, like "example" with its "a" swapped for the
Cyrillic letter that looks the same. Such
an address is valid and gets its own canonical value (it is a different domain), but the UI can
warn about it.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, ValidatedEmail, validate_email

__all__ = ("InvalidEmail", "canonical_email", "is_mixed_script", "normalize_email")

_MAX_LENGTH = 320  # 64 for the local part, "@", 255 for the domain
_LABEL_SEPARATORS = re.compile("[.\u3002\uff0e\uff61]")  # the dots IDNA accepts

# Script mixes that are normal in one writing tradition (UTS 39 "highly restrictive").
_COMPATIBLE_SCRIPTS = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)


class InvalidEmail(ValueError):  # noqa: N818 (the API's name: the address is invalid)
    """An address we cannot accept; the message says why, in words for the user."""


def normalize_email(raw: str) -> str:
    """The address as stored and shown: NFKC, validated, domain lower-cased and IDNA-normalized."""
    return _validate(raw).normalized


def canonical_email(raw: str) -> str:
    """The uniqueness key: the normalized address with a lower-cased local part and an ASCII domain."""
    checked = _validate(raw)
    return f"{checked.local_part.lower()}@{checked.ascii_domain}"


def is_mixed_script(value: str) -> bool:
    """True when a label of `value` (a domain or one label) mixes scripts, e.g. Latin with Cyrillic."""
    for label in _LABEL_SEPARATORS.split(unicodedata.normalize("NFKC", value)):
        decoded = _unicode_label(label)
        if decoded is None:
            return True
        scripts = _scripts(decoded)
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS):
            return True
    return False


def _validate(raw: str) -> ValidatedEmail:
    text = raw.strip()
    # Checked before NFKC too, which can lengthen text, so huge input is refused before any work.
    if len(text) > _MAX_LENGTH:
        raise InvalidEmail("That email address is too long.")
    text = unicodedata.normalize("NFKC", text)
    if len(text) > _MAX_LENGTH:
        raise InvalidEmail("That email address is too long.")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidEmail("An email address cannot contain spaces, line breaks or invisible characters.")
    try:
        return validate_email(
            text,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        # email-validator's messages are written to be shown to the person who typed the address.
        raise InvalidEmail(str(exc)) from exc


def _unicode_label(label: str) -> str | None:
    if not label.lower().startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return None  # a broken A-label cannot be shown honestly; treat it as suspect


def _scripts(label: str) -> set[str]:
    # The stdlib has no Script property; the first word of a letter's Unicode name ("LATIN",
    # "CYRILLIC", "GREEK", "CJK", "HIRAGANA"...) is a close enough stand-in for letters.
    return {
        unicodedata.name(ch, "UNKNOWN").split()[0]
        for ch in label
        if unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lo")
    }
