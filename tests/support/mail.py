"""Reading sent mail in tests: the dev mailbox table, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.mail.models import MailboxMessage


class Mailbox:
    """The dev mailbox as the tests see it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def messages(self, to: str | None = None) -> list[MailboxMessage]:
        """Captured messages, oldest first, optionally only those to `to`."""
        query = select(MailboxMessage).order_by(MailboxMessage.created_at)
        if to is not None:
            query = query.where(MailboxMessage.to_addr.contains(to))
        async with AsyncSession(self.engine) as session:
            return list((await session.scalars(query)).all())

    async def wait_for(
        self, to: str, *, count: int = 1, subject: str | None = None, timeout: float = 20.0
    ) -> list[MailboxMessage]:
        """Wait until `count` messages to `to` (with `subject`, if given) have arrived (delivery is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in await self.messages(to) if subject is None or m.subject == subject]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"expected {count} message(s) to {to}, got {len(found)}"
                return found
            await asyncio.sleep(0.05)


@pytest.fixture
def mailbox(engine: AsyncEngine) -> Mailbox:
    """Messages delivered by the `mailbox` backend."""
    return Mailbox(engine)


@dataclass
class _Collector:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SMTPSink:
    """A real SMTP server on localhost that keeps what it receives; can be stopped and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.collector = _Collector()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages received so far."""
        return self.collector.messages

    def start(self) -> None:
        """Listen on the port (again)."""
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop listening: deliveries now fail with a refused connection."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until `count` messages have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(self.messages) >= count, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages


@pytest.fixture
def smtp_server() -> Iterator[SMTPSink]:
    """A running SMTP sink."""
    sink = SMTPSink()
    sink.start()
    yield sink
    sink.stop()
