"""One-time messages ("Saved.", "Check your inbox") that survive the redirect after a POST.

A handler calls `flash(request, text)`. If the response renders a page, the page shows the message
at once. If the response is a redirect (`see_other`), the messages ride along in a short-lived
signed cookie; the next rendered page shows them and clears the cookie. The cookie is signed so nobody can plant markup
or phishing text in another user's banner; Jinja escapes the text anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from app.auth.core.cookies import cookie_name, expire_cookie, set_cookie

if TYPE_CHECKING:
    from litestar import Request, Response

Level = Literal["info", "success", "warning", "error"]
_LEVELS = frozenset({"info", "success", "warning", "error"})
COOKIE = "flash"
_MAX_COOKIE_BYTES = 2048


@dataclass(frozen=True)
class Flash:
    """A message and its level (info, success, warning, error)."""

    text: str
    level: Level = "info"


def flash(request: Request[Any, Any, Any], text: str, level: Level = "info") -> None:
    """Queue `text` to be shown to the user on the next page they see."""
    _pending(request).append(Flash(text, level))


def consume_flashes(request: Request[Any, Any, Any]) -> list[Flash]:
    """Messages to show now: those carried by the cookie plus those raised in this request."""
    state = request.state
    if state.get("flashes_consumed"):
        return []
    state["flashes_consumed"] = True
    name = cookie_name(COOKIE, secure=request.app.state.settings.cookies_secure)
    carried = _read_cookie(request.cookies.get(name), _secret(request))
    return carried + _pending(request)


def carry_flashes(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    """On a redirect: put messages not shown yet into the cookie for the next page."""
    pending = _pending(request)
    if not pending or request.state.get("flashes_consumed"):
        return
    secure = request.app.state.settings.cookies_secure
    name = cookie_name(COOKIE, secure=secure)
    carried = _read_cookie(request.cookies.get(name), _secret(request))
    set_cookie(response, name, _write_cookie(carried + pending, _secret(request)), secure=secure, max_age=300)


def clear_carried(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    """On a rendered page (which shows them): drop the cookie that carried messages here."""
    secure = request.app.state.settings.cookies_secure
    if cookie_name(COOKIE, secure=secure) in request.cookies:
        expire_cookie(response, cookie_name(COOKIE, secure=secure), secure=secure)


def _pending(request: Request[Any, Any, Any]) -> list[Flash]:
    pending: list[Flash] = request.state.setdefault("flashes", [])
    return pending


def _secret(request: Request[Any, Any, Any]) -> bytes:
    secret: bytes = request.app.state.flash_key
    return secret


def _sign(payload: bytes, secret: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def _write_cookie(messages: list[Flash], secret: bytes) -> str:
    """The signed cookie value; past the cookie limit only the newest message stays, shortened to fit."""
    while True:
        payload = json.dumps([[m.text, m.level] for m in messages], separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(payload).decode()
        value = f"{encoded}.{_sign(payload, secret)}"
        if len(value) <= _MAX_COOKIE_BYTES or not messages:
            return value
        newest = messages[-1]
        if len(messages) > 1:
            messages = [newest]
        else:  # one message alone is too long: halve it until it fits (terminates at one character)
            messages = [Flash(newest.text[: max(1, len(newest.text) // 2)] + "…", newest.level)]


def _read_cookie(value: str | None, secret: bytes) -> list[Flash]:
    if not value or "." not in value:
        return []
    encoded, signature = value.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(encoded)
    except ValueError:
        return []
    if not hmac.compare_digest(signature, _sign(payload, secret)):
        return []
    try:
        items = json.loads(payload)
        return [Flash(str(text), level) for text, level in items if level in _LEVELS]
    except (ValueError, TypeError):
        return []
