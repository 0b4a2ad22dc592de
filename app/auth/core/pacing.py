"""Answer some forms no sooner than a fixed time after they arrive (requirements 30 and 35).

Registration, password reset, sign-in links and email change give the same answer for a known
and an unknown address, but a known address costs more work: a token, an audit event, a job.
Without pacing, that work shows in the response time. The `paced` guard notes a deadline when the
request reaches its route. The `hold_paced_answer` hook runs on the response's first message,
after the request's transaction has committed and its mail has been queued (the hook is
registered after the database's), and sleeps until the deadline. Every answer of a paced route
then takes the policy's `address_form_min_duration`, unless the work itself takes longer. The
sleep is asynchronous, so a waiting answer costs the server nothing but a timer.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from app.auth.core.toolkit import security_of

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler
    from litestar.types import Message, Scope

__all__ = ("hold_paced_answer", "paced")

_NOT_BEFORE = "gatehouse.answer_not_before"


def paced(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: this request's answer leaves no sooner than the policy's minimum duration from now."""
    security = security_of(connection)
    connection.scope["state"][_NOT_BEFORE] = (
        time.monotonic() + security.policy.address_form_min_duration.total_seconds()
    )


async def hold_paced_answer(message: Message, scope: Scope) -> None:
    """Before-send hook: hold the start of a paced answer until its deadline."""
    if message["type"] != "http.response.start":
        return
    deadline = scope.get("state", {}).pop(_NOT_BEFORE, None)
    if deadline is not None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
