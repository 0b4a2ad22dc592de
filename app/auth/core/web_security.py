"""Security headers, a per-request CSP nonce, and a Fetch-Metadata check on unsafe requests.

Every response, error pages included, gets the headers below; HTML responses also get a Content-Security-Policy whose
script and style sources are a nonce made fresh for each request, so no inline script or style
attribute runs, ours or an attacker's. Templates read the nonce as `request.state.csp_nonce`.

Unsafe requests (POST and friends) from another site are refused before any handler runs: the
browser says where a request came from in `Sec-Fetch-Site`, and older browsers in `Origin`. This
backs up the CSRF token (requirement 80) and costs nothing per request but a header read.

A request whose Host header is not `host[:port]` is answered 400 before Litestar sees it: Litestar
builds `request.url` from that header and raises on a port it cannot read.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import (
        ASGIApp,
        HTTPResponseBodyEvent,
        HTTPResponseStartEvent,
        Message,
        Receive,
        Scope,
        Send,
    )

_FORM_TYPES = frozenset({RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART})


def _is_printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


# RFC 3986 authority without userinfo: an IP literal or a reg-name (IPv4 included), then an optional port.
_HOST_HEADER = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")
_BAD_HOST_BODY = b"Bad request: malformed Host header"

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Sec-Fetch-Site values that are ours: the same origin, or the user typing/bookmarking ("none").
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})

_STATIC_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def content_security_policy(nonce: str) -> str:
    """The CSP for an HTML response whose scripts and styles carry `nonce`."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'nonce-{nonce}' 'strict-dynamic'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        )
    )


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SecurityHeadersMiddleware:
    """Outer ASGI wrapper: a nonce in the scope, security headers on every response (404s included).

    It runs on every response, so the headers are encoded once here and added to the raw header
    list in one pass; a handler's own value for a header wins.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        static = {**_STATIC_HEADERS, "referrer-policy": "strict-origin-when-cross-origin"}
        if hsts:  # production over HTTPS: browsers never try plain HTTP again
            static["strict-transport-security"] = "max-age=63072000; includeSubDomains"
        self.static_headers = tuple((name.encode(), value.encode()) for name, value in static.items())
        self._csp_parts = tuple(part.encode() for part in content_security_policy("\0").split("\0"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        await self.app(scope, receive, self.wrap_send(send, nonce))

    def wrap_send(self, send: Send, nonce: str) -> Send:
        """A `send` that adds the headers to the start of the response; a handler's own value wins."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower(): value for name, value in headers}
                headers += [(name, value) for name, value in self.static_headers if name not in present]
                is_html = bytes(present.get(b"content-type", b"")).startswith(b"text/html")
                if is_html and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", nonce.encode().join(self._csp_parts)))
                message["headers"] = headers
            await send(message)

        return send_with_headers


def is_well_formed_host(value: bytes) -> bool:
    """True for a Host header value `request.url` can be built from: `name`, `name:port`, `[v6]:port`."""
    if _HOST_HEADER.fullmatch(value) is None:
        return False
    try:  # what Litestar's URL does with it: the IP literal and the port must hold up too
        urlsplit(f"//{value.decode('ascii')}").port  # noqa: B018 (the property raises for a bad port)
    except ValueError:
        return False
    return True


class MalformedHostMiddleware:
    """ASGI wrapper: a plain 400 for a request whose Host header is not `host[:port]`.

    Litestar builds `request.url` from the Host header and raises `ValueError` for a port that is
    not a number up to 65535 or an unclosed IPv6 bracket (`Host: example.com:abc`, `Host: [::1`).
    The allowed-hosts check compares only the name before the colon, so such a request reached the
    handlers, the templates (which read `request.url.path`) and the error handlers, and each of
    them raised: a 500, or no answer at all. The HTTP server passes any Host value on, so the app
    refuses it here, before Litestar, with an answer that needs no URL.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            # Litestar reads the first Host header, so that is the one checked.
            host = next((value for name, value in scope["headers"] if name == b"host"), b"")
            if not is_well_formed_host(bytes(host)):
                await self.refuse(send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def refuse(send: Send) -> None:
        """Answer 400 with a short text body."""
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_BAD_HOST_BODY)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
        await send(start)
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": _BAD_HOST_BODY,
            "more_body": False,
        }
        await send(body)


class CrossSiteRequestMiddleware:
    """Litestar middleware: refuse unsafe requests that another site made the browser send."""

    def __init__(self, app: ASGIApp, own_origin: str, exclude_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.own_origin = own_origin
        self.exclude_prefixes = exclude_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["method"] not in SAFE_METHODS
            and not scope["path"].startswith(self.exclude_prefixes)
        ):
            self.refuse_cross_site(scope)
            await self.refuse_malformed_csrf_token(scope, receive)
        await self.app(scope, receive, send)

    async def refuse_malformed_csrf_token(self, scope: Scope, receive: Receive) -> None:
        """Raise 403 for a CSRF token that cannot be one of ours (not printable ASCII).

        Tokens are hex; the CSRF check compares them with `secrets.compare_digest`, which raises
        `TypeError` on non-ASCII text instead of saying "no". Refusing such a token here turns a
        hostile value into the same 403 as any wrong token. The form is read through Litestar's
        request, which keeps it for the CSRF check and the handler.

        The body is read whole first: Litestar keeps a body it read whole, but parses multipart
        straight from the stream and keeps nothing when that fails. A malformed multipart body
        was then gone, and the next layer to read the form waited for a body that never came
        (a hang until the client gave up). Kept, it is parsed again there and refused with 400.
        """
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope, receive)
        candidates = [request.headers.get("x-csrftoken"), *request.cookies.values()]
        if request.content_type[0] in _FORM_TYPES:
            await request.body()
            try:
                form = await request.form()
            except Exception:  # not a form: the CSRF check parses it again and refuses it
                form = None
            if form is not None:
                candidates += [value for value in form.getall("_csrf_token", []) if isinstance(value, str)]
        if any(value is not None and not _is_printable_ascii(value) for value in candidates):
            raise PermissionDeniedException("CSRF token verification failed")

    def refuse_cross_site(self, scope: Scope) -> None:
        """Raise 403 when Sec-Fetch-Site (or, in older browsers, Origin) says another site sent this."""
        headers = dict(scope["headers"])
        fetch_site = headers.get(b"sec-fetch-site")
        if fetch_site is not None:
            if fetch_site.decode("latin-1") not in _ALLOWED_FETCH_SITES:
                raise PermissionDeniedException("Cross-site request refused")
            return
        origin = headers.get(b"origin")
        if origin is None:
            return
        # Our configured origin, or the one the browser addressed (the Host header is checked upstream).
        addressed = f"{scope['scheme']}://{headers.get(b'host', b'').decode('latin-1')}"
        if origin.decode("latin-1") not in {self.own_origin, addressed}:
            raise PermissionDeniedException("Cross-origin request refused")
