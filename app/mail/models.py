"""The dev mailbox: every message the `mailbox` backend "sent", kept for /dev/mailbox and tests."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class MailboxMessage(Base):
    """A message captured by the dev mailbox backend."""

    __tablename__ = "dev_mailbox_messages"

    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_addr: Mapped[str] = mapped_column(String(320), index=True)
    from_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
