"""The "check your inbox" cookie: which address this browser is confirming, and a random value
that ties the emailed code to this browser (a code typed in another browser does not work [33]).

The value is `nonce.email` plus an HMAC, so the server can trust what it reads back. Registering
an address that already has an account sets the same kind of cookie, so the two cases look alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response

from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.tokens import new_token
from app.auth.core.toolkit import Security


@dataclass(frozen=True)
class Pending:
    """A browser's pending confirmation."""

    nonce: str
    email: str


def new_pending(email: str) -> Pending:
    """A fresh pending confirmation for `email`."""
    return Pending(nonce=new_token(16), email=email)


def _sign(payload: bytes, key: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def set_pending_cookie(
    response: Response[Any],
    pending: Pending,
    security: Security,
    *,
    max_age: int,
    name: str | None = None,
) -> None:
    """Remember a pending mailed code in this browser (`name`: another flow's cookie)."""
    payload = f"{pending.nonce}\n{pending.email}".encode()
    value = f"{base64.urlsafe_b64encode(payload).decode()}.{_sign(payload, security.cookie_key)}"
    set_cookie(
        response, name or security.cookies.pending, value, secure=security.secure_cookies, max_age=max_age
    )


def read_pending(
    request: Request[Any, Any, Any], security: Security, *, name: str | None = None
) -> Pending | None:
    """The pending confirmation this browser carries, if its signature holds."""
    value = request.cookies.get(name or security.cookies.pending, "")
    encoded, _, signature = value.rpartition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded)
    except ValueError:
        return None
    if not encoded or not hmac.compare_digest(signature, _sign(payload, security.cookie_key)):
        return None
    nonce, _, email = payload.decode(errors="replace").partition("\n")
    return Pending(nonce, email) if nonce and email else None


def clear_pending_cookie(response: Response[Any], security: Security, *, name: str | None = None) -> None:
    """Forget the pending confirmation (it is done)."""
    expire_cookie(response, name or security.cookies.pending, secure=security.secure_cookies)
