"""Structured logging (structlog) and one log line per request.

The request line records method, path, status, duration, client address and a request id. It
never records query strings, bodies, cookies or headers: those are where tokens, passwords and
session ids travel (requirement 91). Values are rendered by structlog, which escapes CR/LF, so a
crafted path cannot forge extra log lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from app.settings import Settings

log = structlog.get_logger("gatehouse.request")


def configure_logging(settings: Settings) -> None:
    """Route stdlib and structlog output through one renderer (JSON in prod, console in dev)."""
    level = getattr(logging, settings.log_level)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.logs_as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Not cached: tests build apps with different log levels in one process.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    global _request_line_writer
    _request_line_writer = (
        _JsonLineWriter(handler.stream) if settings.logs_as_json and level <= logging.INFO else None
    )
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiosmtplib", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _JsonLineWriter:
    """Writes the request line as JSON straight to the log stream.

    The request line is the one log line every request makes, and going through stdlib logging
    and structlog's formatter cost about a tenth of a simple page. It carries the same fields the
    JSON renderer would (timestamp, level, logger, event and the values), so a log pipeline cannot
    tell the difference.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, fields: dict[str, Any]) -> None:
        record = {
            **fields,
            "level": "info",
            "logger": "gatehouse.request",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self.stream.write(json.dumps(record) + "\n")  # the renderer's own format: json.dumps


_request_line_writer: _JsonLineWriter | None = None


class RequestLoggingMiddleware:
    """ASGI middleware: a request id for every request and one summary line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            client = scope.get("client")
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "client": client[0] if client else None,
            }
            if _request_line_writer is not None:
                _request_line_writer.write({"event": "request", "request_id": request_id, **fields})
            else:
                log.info("request", **fields)
            structlog.contextvars.unbind_contextvars("request_id")
