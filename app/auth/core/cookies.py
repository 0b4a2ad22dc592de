"""Every cookie the app sets goes through here, so none can miss its flags [19].

All cookies are Path=/, SameSite=Lax, HttpOnly unless asked otherwise, and Secure whenever the
deployment serves HTTPS (production). Deleting a cookie repeats the flags: browsers ignore a
`__Host-` cookie (even an expired one) that is not Secure.
"""

from __future__ import annotations

from typing import Any

from litestar import Response


def cookie_name(name: str, *, secure: bool) -> str:
    """`__Host-<name>` when cookies are secure (the browser then enforces Secure, Path=/, no Domain)."""
    return f"__Host-{name}" if secure else name


def set_cookie(
    response: Response[Any],
    name: str,
    value: str,
    *,
    secure: bool,
    max_age: int | None = None,
    httponly: bool = True,
) -> None:
    """Set `name`; without `max_age` it ends with the browser session."""
    response.set_cookie(
        name, value, path="/", httponly=httponly, secure=secure, samesite="lax", max_age=max_age
    )


def expire_cookie(response: Response[Any], name: str, *, secure: bool) -> None:
    """Tell the browser to drop `name` now."""
    response.set_cookie(
        name, "", path="/", httponly=True, secure=secure, samesite="lax", max_age=0, expires=0
    )
