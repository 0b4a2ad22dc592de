"""The dev mailbox: read what the app "sent" without a real mail server (dev and test only).

`create_app` mounts these routes only when APP_ENV is dev or test, so in production every one of
them is a plain 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import DBSession
from app.features import mail_enabled
from app.mail.message import Mail, send_mail
from app.mail.models import MailboxMessage
from app.mail.previews import SAMPLES, sample
from app.mail.render import MailRenderer, parse_address
from app.web.flash import flash
from app.web.htmx import render, see_other

MAILBOX_PAGE_SIZE = 100
# The message's own HTML is shown in a sandboxed frame with a policy that allows its inline CSS
# (mail clients need it) and nothing else: no scripts, no remote loads, no navigation.
MESSAGE_HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
)


class MailboxController(Controller):
    """List, read and clear captured mail; send a test message through the real pipeline."""

    path = "/dev/mailbox"
    include_in_schema = False

    @get("/", name="mailbox")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Newest messages first."""
        messages = await _recent(db_session, to=request.query_params.get("to"))
        return render(request, "dev/mailbox.html", messages=messages)

    @get("/messages.json", name="mailbox_json")
    async def as_json(self, db_session: DBSession, to: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        """Messages as JSON (tests and scripts read mail from here), newest first."""
        return [
            {
                "id": str(m.id),
                "message_id": m.message_id,
                "to": m.to_addr,
                "from": m.from_addr,
                "subject": m.subject,
                "text": m.text_body,
                "html": m.html_body,
                "created_at": m.created_at.isoformat(),
            }
            for m in await _recent(db_session, to=to)
        ]

    @get("/{message_id:uuid}", name="mailbox_message")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, message_id: FromPath[UUID]
    ) -> Template:
        """One message: headers, text part, and the HTML part in a sandboxed frame."""
        return render(request, "dev/mailbox_message.html", message=await _get(db_session, message_id))

    @get("/{message_id:uuid}/html", name="mailbox_message_html")
    async def html(self, db_session: DBSession, message_id: FromPath[UUID]) -> Response[str]:
        """The HTML part alone, for the frame on the message page."""
        message = await _get(db_session, message_id)
        return Response(
            message.html_body,
            media_type="text/html",
            headers={"content-security-policy": MESSAGE_HTML_CSP, "x-frame-options": "SAMEORIGIN"},
        )

    @post("/clear", name="mailbox_clear")
    async def clear(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Delete every captured message."""
        await db_session.execute(delete(MailboxMessage))
        flash(request, "Mailbox emptied.", "success")
        return see_other(request, "/dev/mailbox")

    @post("/test", name="mailbox_test")
    async def send_test(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Queue a test message through the job queue and the configured backend."""
        form = await request.form()
        to = str(form.get("to") or "developer@example.com").strip()
        try:
            address = parse_address(to)
        except ValueError:
            flash(request, "That is not an address a message can be sent to.", "error")
            return see_other(request, "/dev/mailbox")
        send_mail(db_session, Mail(to=str(address), template="test_message", context={}))
        flash(request, f"Test message queued for {address.addr_spec}.", "success")
        return see_other(request, "/dev/mailbox")


async def _recent(session: AsyncSession, to: str | None = None) -> list[MailboxMessage]:
    query = select(MailboxMessage).order_by(MailboxMessage.created_at.desc()).limit(MAILBOX_PAGE_SIZE)
    if to:
        query = query.where(MailboxMessage.to_addr.ilike(f"%{_escape_like(to)}%", escape="\\"))
    return list((await session.scalars(query)).all())


async def _get(session: AsyncSession, message_id: UUID) -> MailboxMessage:
    message = await session.get(MailboxMessage, message_id)
    if message is None:
        raise NotFoundException()
    return message


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def previewable(request: Request[Any, Any, Any]) -> list[str]:
    """The templates with a sample, less those of switched-off features (they are never sent)."""
    return sorted(name for name in SAMPLES if mail_enabled(request.app.state.settings, name))


class MailPreviewController(Controller):
    """Every mail template rendered with sample data, HTML and text side by side (dev and test only)."""

    path = "/dev/mail-previews"
    include_in_schema = False

    @get("/", name="mail_previews")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """All templates with their subjects."""
        renderer = MailRenderer(request.app.state.settings)
        previews = [(name, renderer.render_parts(name, sample(name))[0]) for name in previewable(request)]
        return render(request, "dev/mail_previews.html", previews=previews)

    @get("/{name:str}", name="mail_preview")
    async def show(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Template:
        """One template: subject, the HTML part in a sandboxed frame, the text part."""
        if name not in previewable(request):
            raise NotFoundException()
        subject, text, _ = MailRenderer(request.app.state.settings).render_parts(name, sample(name))
        return render(request, "dev/mail_preview.html", name=name, subject=subject, text=text)

    @get("/{name:str}/html", name="mail_preview_html")
    async def html(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
        """The HTML part alone, for the frame."""
        if name not in previewable(request):
            raise NotFoundException()
        _, _, html = MailRenderer(request.app.state.settings).render_parts(name, sample(name))
        return Response(
            html,
            media_type="text/html",
            headers={"content-security-policy": MESSAGE_HTML_CSP, "x-frame-options": "SAMEORIGIN"},
        )
