"""`/admin`: the platform at a glance: 30 days of sign-ups and sign-ins, sessions, factors, mail.

Charts are SVG drawn on the server (`app.admin.charts`) with a title, and the same numbers are in
a table under each chart, so nothing needs JavaScript and a screen reader gets the data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import Date, cast, func, select

from app.admin.charts import DAYS, bar_chart, daily_series
from app.admin.jobs import FAILED_SHOWN, failed_jobs
from app.auth.core.models import AuditEvent, AuthSession, Organization, TotpCredential, WebAuthnCredential
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.core.sessions import idle_cutoff
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.auth.routes.common import NO_STORE
from app.db import DBSession
from app.outbox import OutboxJob

__all__ = ("AdminDashboardController",)

SIGN_UPS = "Sign-ups"
SERIES = {
    "auth.login.succeeded": "Sign-ins",
    "auth.login.failed": "Failed sign-ins",
    "auth.login.throttled": "Throttled attempts",
}


class AdminDashboardController(Controller):
    """The console's first page."""

    path = "/admin"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_dashboard")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Counts per day for the last 30 days, and today's totals."""
        security = security_of(request)
        now = security.clock.now()
        since = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        day = cast(func.timezone("UTC", AuditEvent.occurred_at), Date)
        rows = await db_session.execute(
            select(AuditEvent.action, day.label("day"), func.count())
            .where(AuditEvent.occurred_at >= since, AuditEvent.action.in_(SERIES))
            .group_by(AuditEvent.action, day)
        )
        counts: dict[str, dict[Any, int]] = {action: {} for action in SERIES}
        for action, on, count in rows:
            counts[action][on] = count
        # Sign-ups are accounts made, whichever way (the form, an identity provider, the command line).
        joined = cast(func.timezone("UTC", User.created_at), Date)
        sign_ups = await db_session.execute(
            select(joined, func.count()).where(User.created_at >= since).group_by(joined)
        )
        charts = [bar_chart(SIGN_UPS, daily_series(dict(sign_ups.all()), since.date()))]
        charts += [
            bar_chart(label, daily_series(counts[action], since.date())) for action, label in SERIES.items()
        ]
        live = (AuthSession.expires_at > now) & (AuthSession.last_seen_at > idle_cutoff(now, security.policy))
        totals = (
            await db_session.execute(
                select(
                    select(func.count(User.id)).scalar_subquery(),
                    select(func.count(func.distinct(TotpCredential.user_id)))
                    .where(TotpCredential.confirmed_at.is_not(None))
                    .scalar_subquery(),
                    select(func.count(func.distinct(WebAuthnCredential.user_id))).scalar_subquery(),
                    select(func.count(AuthSession.id)).where(live).scalar_subquery(),
                    select(func.count(Organization.id)).scalar_subquery(),
                    select(func.count(OutboxJob.id)).where(OutboxJob.sent_at.is_(None)).scalar_subquery(),
                    select(func.min(OutboxJob.created_at))
                    .where(OutboxJob.sent_at.is_(None))
                    .scalar_subquery(),
                )
            )
        ).one()
        users = int(totals[0] or 0)
        jobs = request.app.state.jobs
        return Template(
            "admin/dashboard.html",
            context={
                "admin_section": "dashboard",
                "charts": charts,
                "users": users,
                "totp_share": _share(totals[1], users),
                "passkey_share": _share(totals[2], users),
                "active_sessions": int(totals[3] or 0),
                "organizations": int(totals[4] or 0),
                "outbox_unsent": int(totals[5] or 0),
                "outbox_oldest": totals[6],
                "queued": await jobs.queue.count("queued"),
                "failed": len(await failed_jobs(jobs.queue)),
                "failed_shown": FAILED_SHOWN,
                "now": now,
            },
            headers=NO_STORE,
        )


def _share(part: Any, whole: int) -> int:
    return round(100 * int(part or 0) / whole) if whole else 0
