"""Every model of the app, imported in one place so Alembic and tests see the whole schema."""

from app.db import metadata
from app.mail.models import MailboxMessage

__all__ = ("MailboxMessage", "metadata")
