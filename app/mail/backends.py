"""Where rendered mail goes: an SMTP server in production, the dev mailbox table elsewhere."""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

import aiosmtplib
from sqlalchemy.dialects.postgresql import insert

from app.mail.models import MailboxMessage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from app.settings import Settings


class MailBackend(Protocol):
    """Delivers one message or raises (the job then retries)."""

    async def deliver(self, message: EmailMessage) -> None:
        """Deliver `message`."""


class SMTPBackend:
    """Delivers through an SMTP server with aiosmtplib (STARTTLS, implicit TLS or plain)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def deliver(self, message: EmailMessage) -> None:
        """Send `message`; any SMTP or connection error propagates to the job for a retry."""
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout,
        )


class MailboxBackend:
    """Stores messages in `dev_mailbox_messages` for /dev/mailbox (dev and test only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def deliver(self, message: EmailMessage) -> None:
        """Store `message`; storing the same Message-ID twice keeps one copy."""
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        row = {
            "message_id": str(message["Message-ID"]),
            "to_addr": str(message["To"]),
            "from_addr": str(message["From"]),
            "subject": str(message["Subject"]),
            "text_body": text_part.get_content() if text_part else "",
            "html_body": html_part.get_content() if html_part else "",
        }
        statement = insert(MailboxMessage).values(**row).on_conflict_do_nothing(index_elements=["message_id"])
        async with self.engine.begin() as conn:
            await conn.execute(statement)


def build_backend(settings: Settings, engine: AsyncEngine) -> MailBackend:
    """The backend `settings` ask for."""
    if settings.effective_mail_backend == "smtp":
        return SMTPBackend(settings)
    return MailboxBackend(engine)
