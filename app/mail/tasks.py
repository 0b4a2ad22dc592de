"""The `send_email` job and the worker resources it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.security import build_security, effective_policy
from app.jobs import Jobs, job_cipher, unseal
from app.mail.backends import build_backend
from app.mail.message import Mail
from app.mail.render import MailRenderer
from app.outbox import sweep

if TYPE_CHECKING:
    from app.settings import Settings

log = structlog.get_logger(__name__)


async def worker_startup(settings: Settings, ctx: dict[str, Any]) -> None:
    """Open what jobs need once per worker (engine, renderer, mail backend); relay a left-over outbox."""
    engine = create_async_engine(settings.sqlalchemy_url, pool_size=2, max_overflow=2)
    ctx["engine"] = engine
    ctx["cipher"] = job_cipher(settings)
    ctx["renderer"] = MailRenderer(settings)
    ctx["mail_backend"] = build_backend(settings, engine)
    ctx["policy"] = effective_policy(settings)
    ctx["jobs"] = Jobs(ctx["worker"].queue, settings)
    ctx["settings"] = settings
    ctx.setdefault("security", build_security(settings))  # an in-process worker gets the app's (its clock)
    try:  # whatever an earlier process committed but never relayed goes out now
        await sweep(engine, ctx["jobs"])
    except Exception:  # the periodic sweep tries again; a worker must start regardless
        log.warning("outbox.sweep_failed_at_startup", exc_info=True)


async def relay_outbox(ctx: dict[str, Any]) -> int:
    """The periodic sweep of the job outbox (see `app.outbox`)."""
    return await sweep(ctx["engine"], ctx["jobs"])


async def worker_shutdown(ctx: dict[str, Any]) -> None:
    """Close the worker's engine."""
    engine = ctx.pop("engine", None)
    if engine is not None:
        await engine.dispose()


async def send_email(ctx: dict[str, Any], *, sealed: str) -> str:
    """Render and deliver one sealed `Mail`. Failures raise so SAQ retries with backoff."""
    mail = Mail.from_payload(unseal(ctx["cipher"], sealed))
    message = ctx["renderer"].build(mail)
    await ctx["mail_backend"].deliver(message)
    log.info("mail.delivered", template=mail.template, message_id=mail.message_id)
    return mail.message_id
