"""What a piece of mail is before it is rendered, and how a request asks for one to be sent."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.jobs import defer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def _message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Mail:
    """One message to one address: which template, with what context (JSON-able values only)."""

    to: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=_message_id)

    def to_payload(self) -> dict[str, Any]:
        """The mail as a JSON-able dict (sealed before it enters the queue)."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Mail:
        """Rebuild a mail from `to_payload` output."""
        return cls(**payload)


def send_mail(session: AsyncSession, mail: Mail) -> None:
    """Send `mail` once `session` commits. The whole mail is sealed: it may carry tokens."""
    defer(session, "send_email", sealed=mail.to_payload())
