"""Every model of the app, imported in one place so Alembic and tests see the whole schema."""

from __future__ import annotations

from typing import Any

from app.auth.core.models import AuditEvent
from app.auth.models import AuthSession, EmailToken, LoginThrottle, RateLimitCounter, RememberToken, User
from app.db import metadata
from app.mail.models import MailboxMessage
from app.outbox import OutboxJob

# isort: split
# --- feature: orgs
from app.projects.models import Project

# --- end feature: orgs

__all__ = (
    "AuditEvent",
    "AuthSession",
    "EmailToken",
    "LoginThrottle",
    "MailboxMessage",
    "OutboxJob",
    # --- feature: orgs
    "Project",
    # --- end feature: orgs
    "RateLimitCounter",
    "RememberToken",
    "User",
    "include_object",
    "metadata",
)

# Tables the app does not own: SAQ creates and migrates its queue tables itself.
EXTERNAL_TABLE_PREFIXES = ("saq_",)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: leave tables we do not own (and their indexes) out of autogenerate."""
    table = getattr(obj, "table", None)
    table_name = name if type_ == "table" else getattr(table, "name", "")
    return not (table_name or "").startswith(EXTERNAL_TABLE_PREFIXES)
