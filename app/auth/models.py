"""The host's account model: the core's security columns plus the columns this product adds.

The core owns the security columns (`UserSecurityColumns`) and every table that proves who
someone is (sessions, remember-me, mailed tokens, throttles, audit: `app.auth.core.models`). Add
your own columns here, each with a default, and a migration for them in `migrations/`.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.core.models import (
    EMAIL_MAX,
    AuditEvent,
    AuthSession,
    EmailToken,
    LoginThrottle,
    RateLimitCounter,
    RememberToken,
    UserSecurityColumns,
)
from app.db import Base

__all__ = (
    "EMAIL_MAX",
    "AuditEvent",
    "AuthSession",
    "EmailToken",
    "LoginThrottle",
    "RateLimitCounter",
    "RememberToken",
    "User",
)


class User(UserSecurityColumns, Base):
    """An account. Usable only once `confirmed_at` is set and while `is_active`."""

    display_name: Mapped[str] = mapped_column(String(100), default="")
