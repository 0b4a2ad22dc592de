"""The impersonation banner's facts, for `templates/partials/_impersonation_banner.html`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from app.auth.core.toolkit import security_of

__all__ = ("Impersonating", "impersonating")


@dataclass(frozen=True)
class Impersonating:
    """Who the administrator is signed in as, and for how much longer."""

    email: str
    minutes_left: int


def impersonating(request: Request[Any, Any, Any]) -> Impersonating | None:
    """The banner's facts while this request is an impersonation; None otherwise."""
    current = request.scope.get("auth")
    user = request.scope.get("user")
    if current is None or user is None or current.impersonator_id is None or current.expires_at is None:
        return None
    left = current.expires_at - security_of(request).clock.now()
    return Impersonating(email=user.email, minutes_left=max(0, int(left.total_seconds() // 60)))
