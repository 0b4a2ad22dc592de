"""Hostile HTTP requests for the route-table fuzz test (tests/web/test_fuzz.py), as hypothesis strategies.

A request is drawn whole: path parameters, query string, body, CSRF token, headers and cookies.
Most parts are usually what a browser on the page would send (a valid CSRF token, same-origin
headers, the browser's own cookies), so most requests get past the CSRF check to the handler;
any part may instead be hostile: non-ASCII, control characters, NUL bytes, invalid UTF-8,
oversized, repeated or missing fields, the wrong content type, multipart or JSON where a form is
expected. The values a hostile part takes come from what real scanners send, plus random text.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
_FIELD_NAME = re.compile(r'name="([A-Za-z_][\w\-]*)"')

# Values that once broke something here or in frameworks like it: a valid token with a quote after
# it, NUL, C1 controls, an unpaired-looking escape, a group address, a path climbing out of its
# directory, a bidi override, emoji (4 UTF-8 bytes each) and a huge run of them.
NOTORIOUS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "¿'\"(",
    "\r\n",
    "\x1b[31m",
    "\x85\x9f",
    "%00",
    "%ff%fe",
    "%",
    "%G1",
    "\u202eevil",
    "🦀" * 3,
    "g:;x@y.example",
    "a@b@c",
    "ada@example.com",
    "ADA@EXAMPLE.COM\x00",
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "' OR '1'='1",
    "-1",
    "0",
    "1e309",
    "NaN",
    "true",
    "null",
    "[]",
    "{}",
    "00000000-0000-0000-0000-000000000000",
    "\ufeff",
    "\uffff",
    "ａｄｍｉｎ",
)
QUERY_NAMES = ("next", "token", "code", "state", "error", "iss", "to", "signed_out", "email", "page", "v")
JSON_NAMES = ("credential", "next", "trust_browser", "name", "code", "email", "password", "fields", "path")
CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=bogus",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="unclosed',
    "application/json",
    "application/json; charset=utf-16",
    "text/plain",
    "text/html",
    "application/xml",
    "application/octet-stream",
    "image/png",
    "*/*",
    "",
    ";;;",
    "application/x-www-form-urlencoded\x7f",
)
ACCEPTS = (
    "text/html",
    "application/json",
    "*/*",
    "text/html, application/json",
    "application/json;q=0.9, text/html;q=0.1",
    "",
    "image/png",
    "¿",
)


def template_field_names(directory: Path = ROOT / "templates") -> tuple[str, ...]:
    """Every form field name the templates use (so the fuzz sends the fields handlers read)."""
    names = {name for page in directory.rglob("*.html") for name in _FIELD_NAME.findall(page.read_text())}
    return tuple(sorted(names))


def static_file_paths(directory: Path = ROOT / "static") -> tuple[str, ...]:
    """The files the static route serves, relative to it."""
    return tuple(sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()))


# --- values -------------------------------------------------------------------------------------

short_text = st.one_of(
    st.sampled_from(NOTORIOUS),
    st.text(max_size=24),
    st.text(st.characters(codec="ascii"), max_size=24),
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), min_size=1, max_size=8),
)
"""A short hostile string: a notorious value, any Unicode, ASCII, or controls and format characters."""

huge_text = st.builds(
    lambda unit, n: (unit * n)[:n],
    st.sampled_from(("x", "é", "🦀", "\x00", "a%")),
    st.integers(1_000, 80_000),
)
"""A long value (some beyond a cookie's or a column's limit)."""

text_values = st.one_of(short_text, short_text, short_text, huge_text)


def utf8(value: str) -> bytes:
    """`value` as UTF-8 (a lone surrogate becomes its CESU-style bytes: invalid UTF-8 on purpose)."""
    return value.encode("utf-8", "surrogatepass")


byte_values = st.one_of(
    text_values.map(utf8),
    text_values.map(utf8),
    st.binary(max_size=24),
    st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\x00", b"\xf4\x90\x80\x80")),
)
"""A field value as bytes: mostly UTF-8 text, sometimes bytes that are not UTF-8 at all."""

short_byte_values = st.one_of(short_text.map(utf8), st.binary(max_size=24))
"""A short value as bytes, UTF-8 or not."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text_values,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(JSON_NAMES), short_text), inner, max_size=4),
    ),
    max_leaves=12,
)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as WebAuthn's JSON encodes binary."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_b64_field = st.one_of(st.binary(max_size=64).map(b64url), json_values)
_client_data = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(("webauthn.get", "webauthn.create", "x")) | json_values,
        "challenge": _b64_field,
        "origin": st.sampled_from(("http://testserver.local", "https://evil.example")) | json_values,
        "crossOrigin": json_values,
    },
).map(lambda data: b64url(json.dumps(data).encode()))
webauthn_credentials = st.fixed_dictionaries(
    {},
    optional={
        "id": _b64_field,
        "rawId": _b64_field,
        "type": st.sampled_from(("public-key", "")) | json_values,
        "authenticatorAttachment": st.sampled_from(("platform", "cross-platform")) | json_values,
        "clientExtensionResults": json_values,
        "response": st.fixed_dictionaries(
            {},
            optional={
                "clientDataJSON": _client_data | _b64_field,
                "authenticatorData": _b64_field,
                "signature": _b64_field,
                "userHandle": _b64_field,
                "attestationObject": _b64_field,
                "transports": json_values,
            },
        )
        | json_values,
    },
)
"""`credential.toJSON()` as passkeys.js sends it, every part of it possibly the wrong type or garbage."""


# --- the request --------------------------------------------------------------------------------


@dataclass
class Browser:
    """What a well-behaved browser on the page would send: its CSRF token and its cookies."""

    csrf_token: str
    cookies: Mapping[str, str]
    origin: str
    cookie_names: Sequence[str] = ()
    """Cookie names the app reads (hostile values go into these too, not only into present ones)."""


@dataclass
class FuzzRequest:
    """One drawn request, printable as hypothesis's falsifying example."""

    method: str
    path: str
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytes = b""
    valid_csrf: bool = True

    def __repr__(self) -> str:
        shown = self.body if len(self.body) <= 600 else self.body[:600] + b"...(%d bytes)" % len(self.body)
        return f"FuzzRequest({self.method} {self.path!r}, headers={self.headers!r}, body={shown!r})"


@st.composite
def path_segments(draw: st.DrawFn, known: Sequence[str] = ()) -> str:
    """One path parameter, percent-encoded: a known good value, random text, or a malformed escape."""
    choices = [st.sampled_from(known)] if known else []
    value = draw(
        st.one_of(
            *choices,
            *choices,
            st.uuids().map(str),
            short_text.map(lambda text: quote(utf8(text), safe="")),
            st.sampled_from(("%00", "%ff", "%2e%2e", "%2F", "..", ".", "%", "%zz", "x" * 300)),
        )
    )
    return value or "x"


@st.composite
def static_paths(draw: st.DrawFn, files: Sequence[str]) -> str:
    """A path under the static route: a real file, a file plus junk, a climb out, or nonsense."""
    pieces = draw(
        st.lists(path_segments(known=("..", "css", "js", "vendor", "htmx")), min_size=1, max_size=4)
    )
    kind = draw(st.sampled_from(("file", "file with junk", "made up")))
    if kind == "made up":
        return "/".join(pieces)
    name = draw(st.sampled_from(files))
    if kind == "file":
        return name
    return name + draw(st.sampled_from(("%00", "/", "/..", "%2f..", "~", ".bak", "%ff")))


_PARAM = re.compile(r"\{(\w+):(\w+)\}")


@st.composite
def concrete_paths(
    draw: st.DrawFn, template: str, known: Mapping[str, Sequence[str]], files: Sequence[str]
) -> str:
    """`template` with each parameter drawn (often a value that finds something: `known` by type)."""

    def fill(match: re.Match[str]) -> str:
        kind = match.group(2)
        if kind == "path":
            return draw(static_paths(files))
        return draw(path_segments(known=known.get(kind, ())))

    return _PARAM.sub(fill, template)


@st.composite
def query_strings(draw: st.DrawFn, names: Sequence[str]) -> str:
    """`?a=b&...` (percent-encoded, as a URL must be), often empty, names from `names` or random."""
    # Short values: a URL over 64 KiB is refused by the client (and by servers) before the app sees it.
    pairs = draw(st.lists(st.tuples(st.sampled_from(names) | short_text, short_byte_values), max_size=4))
    if not pairs:
        return ""
    raw = draw(st.booleans())
    parts = [f"{quote(utf8(name), safe='')}={_escape(value, raw=raw)}" for name, value in pairs]
    return "?" + "&".join(parts)


def _escape(value: bytes, *, raw: bool) -> str:
    """Percent-encode `value`; `raw` leaves the ASCII characters a careless client would leave (%, &, =, +)."""
    return quote_from_bytes(value, safe="%&=+/;" if raw else "")


@st.composite
def form_pairs(draw: st.DrawFn, names: Sequence[str]) -> list[tuple[bytes, bytes]]:
    """Form fields: known names mostly, random ones too, some repeated, some missing, some huge."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(names).map(utf8) | byte_values, byte_values), max_size=8))
    if pairs and draw(st.integers(0, 9)) == 0:  # one field sent hundreds of times
        pairs += [pairs[0]] * draw(st.integers(100, 2_000))
    return pairs


def urlencoded(pairs: Sequence[tuple[bytes, bytes]], *, raw: bool) -> bytes:
    """A form body; `raw` sends the bytes as they are (invalid UTF-8, stray % and =) instead of escaped."""
    if raw:
        return b"&".join(name + b"=" + value for name, value in pairs)
    return "&".join(
        f"{quote_from_bytes(n, safe='')}={quote_from_bytes(v, safe='')}" for n, v in pairs
    ).encode()


def multipart(pairs: Sequence[tuple[bytes, bytes]], boundary: bytes, *, as_files: bool) -> bytes:
    """A multipart/form-data body (each field as an uploaded file when `as_files`)."""
    body = b""
    for name, value in pairs:
        disposition = b'Content-Disposition: form-data; name="' + name.replace(b'"', b"") + b'"'
        if as_files:
            disposition += (
                b'; filename="../' + name[:20].replace(b'"', b"") + b'.txt"\r\nContent-Type: text/plain'
            )
        body += b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + value + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


@st.composite
def bodies(draw: st.DrawFn, names: Sequence[str], csrf: bytes | None) -> tuple[str, bytes, bool]:
    """(content type, body, whether the CSRF token rides in the body): a form mostly, anything else too."""
    pairs = draw(form_pairs(names))
    if csrf is not None and draw(st.sampled_from((True, True, True, False))):
        pairs = [(b"_csrf_token", csrf), *pairs]
        token_in_body = True
    else:
        token_in_body = False
    kind = draw(st.sampled_from(("form", "form", "form", "multipart", "json", "raw", "empty")))
    if kind == "form":
        raw = draw(st.booleans())
        return "application/x-www-form-urlencoded", urlencoded(pairs, raw=raw), token_in_body
    if kind == "multipart":
        boundary = draw(st.sampled_from((b"fuzzboundary", b"x" * 70, b"a b", b"\xff\xfe")))
        body = multipart(pairs, boundary, as_files=draw(st.booleans()))
        if draw(st.booleans()):  # cut short, or announced with another boundary
            body = body[: draw(st.integers(0, len(body)))]
        announced = draw(st.sampled_from((boundary, boundary, b"other", b"")))
        return "multipart/form-data; boundary=" + announced.decode("latin-1"), body, token_in_body
    if kind == "json":
        document = draw(
            st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "credential": webauthn_credentials | json_values,
                        "next": json_values,
                        "trust_browser": json_values,
                    },
                ),
            )
        )
        text = json.dumps(document, ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 4)) == 0:  # not quite JSON
            text = text[: draw(st.integers(0, len(text)))] + draw(short_text)
        return (
            draw(st.sampled_from(("application/json", "application/json", "text/plain"))),
            utf8(text),
            False,
        )
    if kind == "raw":
        return draw(st.sampled_from(CONTENT_TYPES)), draw(byte_values | st.binary(max_size=200)), False
    return draw(st.sampled_from(("", "application/x-www-form-urlencoded"))), b"", False


def header_text(value: str) -> bytes:
    """A header value a server passes on: UTF-8 bytes without CR, LF or NUL (which HTTP servers refuse)."""
    return re.sub(rb"[\r\n\x00]", b"", utf8(value))


@st.composite
def cookie_headers(draw: st.DrawFn, browser: Browser) -> bytes:
    """The browser's cookies, sometimes with hostile values planted in those the app reads."""
    jar = dict(browser.cookies)
    if draw(st.sampled_from((False, False, False, True))):
        names = sorted({*jar, *browser.cookie_names})
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            if draw(st.integers(0, 4)) == 0:
                jar.pop(name, None)
            else:
                jar[name] = draw(st.one_of(short_text, st.just(jar.get(name, "") + "¿'\"(")))
    return b"; ".join(header_text(f"{name}={value}") for name, value in jar.items())


@st.composite
def csrf_tokens(draw: st.DrawFn, browser: Browser) -> tuple[bytes | None, bool]:
    """(the token to send, whether it is the right one): the browser's own mostly, else hostile or none."""
    choice = draw(st.sampled_from(("valid",) * 8 + ("hostile", "none")))
    if choice == "valid":
        return browser.csrf_token.encode(), True
    if choice == "none":
        return None, False
    hostile = draw(
        st.one_of(short_text, st.just(browser.csrf_token + "¿'\"("), st.just(browser.csrf_token[:-1]))
    )
    return utf8(hostile), False


@st.composite
def fuzz_requests(
    draw: st.DrawFn,
    method: str,
    template: str,
    browser: Browser,
    *,
    field_names: Sequence[str],
    query_names: Sequence[str],
    known: Mapping[str, Sequence[str]],
    files: Sequence[str],
) -> FuzzRequest:
    """A whole request to the route `method template`, from `browser`."""
    path = draw(concrete_paths(template, known, files)) + draw(query_strings(query_names))
    headers: list[tuple[str, bytes]] = []
    request = FuzzRequest(method=method, path=path, headers=headers)
    if method == "POST":
        token, request.valid_csrf = draw(csrf_tokens(browser))
        content_type, request.body, token_in_body = draw(bodies(field_names, token))
        if token is not None and (not token_in_body or draw(st.integers(0, 5)) == 0):
            headers.append(("x-csrftoken", re.sub(rb"[\r\n\x00]", b"", token)))
        if content_type:
            headers.append(("content-type", header_text(content_type)))
        fetch_site = draw(st.sampled_from(("same-origin",) * 6 + (None, "cross-site", "none", "¿")))
        if fetch_site is not None:
            headers.append(("sec-fetch-site", header_text(fetch_site)))
        origin = draw(st.sampled_from((browser.origin,) * 6 + (None, "null", "https://evil.example")))
        if origin is not None:
            headers.append(("origin", header_text(origin)))
    headers.append(("cookie", draw(cookie_headers(browser))))
    headers.append(("accept", header_text(draw(st.sampled_from(ACCEPTS) | short_text))))
    for name in draw(
        st.lists(
            st.sampled_from(
                (
                    "hx-request",
                    "hx-current-url",
                    "hx-target",
                    "user-agent",
                    "referer",
                    "accept-language",
                    "x-forwarded-for",
                )
            ),
            unique=True,
            max_size=3,
        )
    ):
        value = draw(st.sampled_from(("true", "http://testserver.local/settings")) | short_text)
        headers.append((name, header_text(value)))
    return request
