"""Where to send the browser next: only to a path on this site [82].

`?next=`, `return_to`, `HX-Redirect`, `HX-Location` and the OAuth post-login target all come from
the request, so an attacker can put `//evil.example` there and use our sign-in page to send a victim
anywhere (an open redirect). Browsers are lenient: they read `/\\evil.example` as `//evil.example`
and drop tabs and newlines, and other software on the way may decode `%2F` or fold a full-width
slash into "/". So the value must pass the same test as typed, after NFKC, and after NFKC plus one
round of percent-decoding: exactly one leading "/", no backslash, no control or space character
anywhere (except a space that arrived as %20), no scheme, no host. Anything else is replaced by the default.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, urlsplit

__all__ = ("safe_redirect_target",)

_MAX_LENGTH = 2_048  # longer is not a link we made, and would bloat the Location header
_PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))


def safe_redirect_target(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, otherwise `default`."""
    if not target or len(target) > _MAX_LENGTH:
        return default
    normalized = unicodedata.normalize("NFKC", target)
    decoded = unicodedata.normalize("NFKC", unquote(normalized))
    if not (_is_local_path(target) and _is_local_path(normalized) and _is_local_path(decoded, decoded=True)):
        return default
    # Headers carry ASCII only: non-ASCII characters are percent-encoded as a browser would send them.
    return quote(target, safe=_PRINTABLE_ASCII)


def _is_local_path(value: str, *, decoded: bool = False) -> bool:
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return False
    # Once decoded, a plain space is fine: it arrived as %20, the way a query carries one.
    if any(_is_blank_or_control(ch) and not (decoded and ch == " ") for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def _is_blank_or_control(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "CZ"
