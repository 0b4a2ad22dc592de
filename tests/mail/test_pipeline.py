"""Mail leaves through the job queue after commit, is retried on SMTP failure, and is sealed at rest.

These tests run a real worker (in the app process) against a real SMTP server (aiosmtpd). The queue
is PostgreSQL by default and Redis when SAQ_REDIS_URL is set (CI runs both).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, post
from litestar.exceptions import ValidationException
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.asgi import create_app
from app.db import DBSession
from app.mail.message import Mail, send_mail
from app.settings import Settings
from tests.support.database import TEST_QUEUE
from tests.support.mail import Mailbox, SMTPSink
from tests.support.web import BASE_URL, WebClient


def smtp_settings(settings: Settings, sink: SMTPSink, **overrides: object) -> Settings:
    """Settings that deliver to `sink` over plain SMTP, on a queue of their own."""
    return settings.model_copy(
        update={
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "smtp_security": "none",
            "smtp_timeout": 2.0,
            "saq_queue_name": f"{TEST_QUEUE}-mail-{uuid.uuid4().hex[:8]}",
            **overrides,
        }
    )


async def running_client(settings: Settings) -> AsyncIterator[WebClient]:
    async with AsyncTestClient(app=create_app(settings), base_url=BASE_URL) as client:
        yield WebClient(client)


@pytest.fixture
async def smtp_web(settings: Settings, smtp_server: SMTPSink, db: AsyncSession) -> AsyncIterator[WebClient]:
    async for client in running_client(smtp_settings(settings, smtp_server)):
        yield client


async def test_mail_enqueued_by_a_request_reaches_the_smtp_server(
    smtp_web: WebClient, smtp_server: SMTPSink
) -> None:
    response = await smtp_web.submit("/dev/mailbox/test", {"to": "ada@example.com"})
    assert response.status_code == 303

    [message] = await smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Gatehouse test message"
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None


async def test_smtp_outage_is_retried_and_delivered_once_without_duplicates(
    settings: Settings, smtp_server: SMTPSink, db: AsyncSession
) -> None:
    smtp_server.stop()
    async for web in running_client(smtp_settings(settings, smtp_server, mail_retry_delay=0.3)):
        await web.submit("/dev/mailbox/test", {"to": "grace@example.com"})
        await asyncio.sleep(1.0)  # the first attempts hit a closed port
        assert smtp_server.messages == []

        smtp_server.start()
        [message] = await smtp_server.wait_for(1, timeout=15)
        assert message["To"] == "grace@example.com"
        await asyncio.sleep(1.5)  # give a duplicate every chance to show up
        assert len(smtp_server.messages) == 1


async def test_mail_is_not_sent_when_the_transaction_rolls_back(
    settings: Settings, mailbox: Mailbox, db: AsyncSession
) -> None:
    @post("/test-rollback", include_in_schema=False)
    async def queue_then_fail(db_session: DBSession) -> None:
        send_mail(db_session, Mail(to="nobody@example.com", template="test_message"))
        raise ValidationException("form was invalid after all")

    app = create_app(settings)
    app.register(queue_then_fail)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.submit("/dev/mailbox/test", {"to": "somebody@example.com"})
        response = await web.submit("/test-rollback")
        assert response.status_code == 400
        await mailbox.wait_for("somebody@example.com")
        await asyncio.sleep(0.5)
    assert await mailbox.messages("nobody@example.com") == []


async def test_job_payload_is_sealed_in_the_queue(
    settings: Settings, engine: AsyncEngine, db: AsyncSession
) -> None:
    queued_only = settings.model_copy(
        update={"saq_in_process_worker": False, "saq_queue_name": f"{TEST_QUEUE}-sealed"}
    )
    app: Litestar = create_app(queued_only)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        web = WebClient(client)
        await web.submit("/dev/mailbox/test", {"to": "secret-recipient@example.com"})
        if settings.saq_redis_url:
            redis = Redis.from_url(settings.saq_redis_url)
            raw = b"".join(
                [
                    await redis.get(key) or b""
                    async for key in redis.scan_iter(f"saq:job:{TEST_QUEUE}-sealed:*")
                ]
            )
            await redis.aclose()
        else:
            async with engine.connect() as conn:
                raw = b"".join(bytes(row[0]) for row in await conn.execute(text("SELECT job FROM saq_jobs")))
    assert b"send_email" in raw, "the job is in the queue"
    assert b"sealed" in raw
    assert b"secret-recipient@example.com" not in raw
    assert b"test_message" not in raw
