"""Sudo [28][29]: re-authenticate with the strongest factor, and finish what was interrupted.

**Strongest factor.** An account with an authenticator app re-authenticates with its password
*and* a code (or a backup code); an account whose only second factor is a passkey must use the
passkey; a passkey alone always suffices (it is both factors). The password alone is enough only
for an account that has nothing else. A refused code counts towards the same MFA lock as at
sign-in [49].

**Nothing lost.** `requires_sudo` stops a form POST whose sudo window has lapsed. Rather than
dropping what the user typed, the guard seals the form (its fields but the CSRF token, the path it
was posted to, the session it belongs to) into a short-lived cookie with AES-256-GCM bound to the
session's id, and the sudo page then offers to finish the action: after re-authentication the
browser gets a page holding the same form with a fresh CSRF token, which submits itself (or waits
for a click without JavaScript). The sealed value is useless in any other session, expires with
the sudo prompt, and can only send the form back to a path on this site, so it opens no CSRF or
open-redirect hole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection

from app.auth.core.audit_log import audit
from app.auth.core.cookies import expire_cookie, set_cookie
from app.auth.core.crypto import DecryptionError
from app.auth.core.redirects import safe_redirect_target
from app.auth.core.second_factor import Factors, SecondFactorProblem, check_second_factor, factors_of
from app.auth.core.session_store import load_account, mark_reauthenticated, set_session_cookie
from app.auth.core.signin import InvalidCredentialsError, verify_current_password
from app.auth.core.toolkit import Security, security_of

__all__ = (
    "REPLAY_TTL_SECONDS",
    "CodeRequiredError",
    "InvalidCredentialsError",
    "PasskeyRequiredError",
    "Replay",
    "clear_replay",
    "confirm_sudo",
    "grant_sudo",
    "keep_replay",
    "read_replay",
    "seal_replay",
    "sudo_factors",
)

REPLAY_TTL_SECONDS = 600
"""How long an interrupted form waits for its re-authentication."""
_REPLAY_MAX = 3_500
"""Largest sealed form kept (a cookie holds about 4 KB); a bigger form is not kept."""


class CodeRequiredError(Exception):
    """The account has an authenticator app: the password needs a code with it."""

    def __init__(self, problem: SecondFactorProblem | None = None) -> None:
        super().__init__("a second-factor code is required")
        self.problem = problem


class PasskeyRequiredError(Exception):
    """The account's only second factor is a passkey: sudo is done with the passkey."""


async def sudo_factors(db: Any, request: Request[Any, Any, Any]) -> Factors:
    """The signed-in user's factors, which decide what the sudo page asks for."""
    return await factors_of(db, request.user.id)


async def grant_sudo(
    db: Any, request: Request[Any, Any, Any], response: Response[Any], *, method: str
) -> None:
    """Credentials were just presented: a fresh session token and a fresh sudo window [18][28]."""
    _refuse_impersonation(request)  # an impersonation never gains sudo [75]
    security = security_of(request)
    new = await mark_reauthenticated(db, request.auth, security)
    await audit(db, request, "auth.sudo.granted", user_id=request.user.id, method=method)
    set_session_cookie(response, new.token, security)


async def confirm_sudo(
    db: Any, request: Request[Any, Any, Any], response: Response[Any], password: str, code: str = ""
) -> None:
    """Re-authenticate with the password (and a code when the account has an authenticator app).

    Raises `ThrottledError` or `InvalidCredentialsError` like sign-in, `PasskeyRequiredError` when
    only a passkey will do, and `CodeRequiredError` (with the reason) for a missing or wrong code.
    """
    _refuse_impersonation(request)
    factors = await factors_of(db, request.user.id)
    if factors.passkeys and not factors.totp:
        raise PasskeyRequiredError()
    await verify_current_password(db, request, password, failure_action="auth.sudo.failed")
    if factors.totp:
        if not code.strip():
            raise CodeRequiredError()
        security = security_of(request)
        user = await load_account(db, security, request.user)
        result = await check_second_factor(db, request, user, code, context="sudo")
        if isinstance(result, SecondFactorProblem):
            raise CodeRequiredError(result)
    await grant_sudo(db, request, response, method="password+totp" if factors.totp else "password")


def _refuse_impersonation(request: Request[Any, Any, Any]) -> None:
    # Imported here: the guards module imports this one (to keep a refused form).
    from app.auth.core.guards import ImpersonationRefused

    if request.auth.impersonator_id is not None:
        raise ImpersonationRefused()


# --- keeping the interrupted form


@dataclass(frozen=True)
class Replay:
    """A form POST interrupted by the sudo prompt: where it went and what it carried."""

    path: str
    fields: list[tuple[str, str]]


def _context(session_id: Any) -> bytes:
    return b"sudo-replay:" + str(session_id).encode()


async def seal_replay(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The interrupted form POST, sealed for this session; None when it cannot or should not be kept."""
    request = connection
    if request.scope.get("method") != "POST" or not isinstance(request, Request):
        return None
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    path = safe_redirect_target(request.url.path, default="")
    if not path:
        return None
    try:
        form = await request.form()
    except Exception:
        return None
    fields = [(str(k), str(v)) for k, v in form.multi_items() if k != "_csrf_token" and isinstance(v, str)]
    security = security_of(request)
    expires = int(security.clock.now().timestamp()) + REPLAY_TTL_SECONDS
    payload = json.dumps({"path": path, "fields": fields, "exp": expires}, separators=(",", ":")).encode()
    sealed = security.at_rest.seal(payload, _context(request.scope["auth"].id))
    return sealed if len(sealed) <= _REPLAY_MAX else None


def keep_replay(response: Response[Any], sealed: str, security: Security) -> None:
    """Put the sealed form in the browser until the sudo prompt is answered."""
    set_cookie(
        response, _cookie_name(security), sealed, secure=security.secure_cookies, max_age=REPLAY_TTL_SECONDS
    )


def read_replay(request: Request[Any, Any, Any]) -> Replay | None:
    """The interrupted form of this session, if the browser holds one that opens."""
    security = security_of(request)
    sealed = request.cookies.get(_cookie_name(security), "")
    current = request.scope.get("auth")
    if not sealed or current is None or len(sealed) > _REPLAY_MAX:
        return None
    try:
        data = json.loads(security.at_rest.open(sealed, _context(current.id)))
    except (DecryptionError, ValueError):
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("exp"), int):
        return None
    if data["exp"] <= security.clock.now().timestamp():
        return None
    path = safe_redirect_target(data.get("path"), default="")
    raw_fields = data.get("fields")
    if not path or not isinstance(raw_fields, list):
        return None
    fields = [
        (str(item[0]), str(item[1])) for item in raw_fields if isinstance(item, list) and len(item) == 2
    ]
    return Replay(path=path, fields=fields)


def clear_replay(response: Response[Any], security: Security) -> None:
    """Forget the interrupted form (done, or abandoned)."""
    expire_cookie(response, _cookie_name(security), secure=security.secure_cookies)


def _cookie_name(security: Security) -> str:
    return security.cookies.session.replace("session", "sudo-replay")
