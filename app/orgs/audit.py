"""The organization's audit log, `/o/{org_slug}/audit`: filter, page through, export.

Needs `audit:read`. The query and the exports are the core's (`app.auth.core.audit_export`):
it keeps the log to the caller's organization and makes CSV cells safe for spreadsheets. This
module reads the filters from the query string and shows the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.exceptions import ValidationException
from litestar.response import Stream, Template
from sqlalchemy import select

from app.auth.core.audit_export import EXPORT_FORMATS, AuditFilter, export_stream, org_events
from app.auth.core.audit_log import audit
from app.auth.core.models import Membership
from app.auth.core.tenancy import org_of, requires_org_permission
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.web.htmx import render
from app.web.query_params import optional_uuid, utc_day

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.auth.core.orgs import OrgContext

__all__ = ("OrgAuditController",)

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditLogQuery:
    """The page's filters as typed (strings, for the form) and as the core's `AuditFilter`."""

    member: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    before: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AuditLogQuery:
        """Read `member`, `action`, `from`, `to` and `before`; what does not parse is left out."""
        member = str(params.get("member", ""))
        before = str(params.get("before", ""))
        return cls(
            member=member if optional_uuid(member) else "",
            action=" ".join(str(params.get("action", "")).split())[:100],
            date_from=str(params.get("from", "")) if utc_day(str(params.get("from", ""))) else "",
            date_to=str(params.get("to", "")) if utc_day(str(params.get("to", ""))) else "",
            before=int(before) if before.isdigit() and len(before) < 19 else None,
        )

    @property
    def filters(self) -> AuditFilter:
        """The filter for the core's query; dates are whole days in UTC, `to` included."""
        since, until = utc_day(self.date_from), utc_day(self.date_to)
        return AuditFilter(
            actor_id=optional_uuid(self.member),
            action=self.action,
            since=since,
            until=until + timedelta(days=1) if until else None,
            before_seq=self.before,
        )

    @property
    def is_filtered(self) -> bool:
        """Whether any filter is set (the empty state says so)."""
        return bool(self.member or self.action or self.date_from or self.date_to)

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string (`?...`, or "" when there are none), some changed."""
        values = {
            "member": self.member,
            "action": self.action,
            "from": self.date_from,
            "to": self.date_to,
            "before": self.before,
            **changes,
        }
        params = {key: value for key, value in values.items() if value not in ("", None)}
        return "?" + urlencode(params) if params else ""


async def _members(db: DBSession, ctx: OrgContext) -> list[Any]:
    """The organization's members, for the "member" filter."""
    rows = await db.execute(
        select(User.id, User.email, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == ctx.org_id)
        .order_by(User.email)
    )
    return list(rows)


class OrgAuditController(Controller):
    """What happened in the organization, who did it, and when."""

    path = "/o/{org_slug:str}/audit"
    guards = [requires_org_permission("audit:read")]
    include_in_schema = False

    @get("/", name="org_audit")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """A page of events, newest first (htmx gets the table only)."""
        ctx = org_of(request)
        query = AuditLogQuery.parse(request.query_params)
        rows = list(await db_session.execute(org_events(ctx, User, query.filters).limit(PAGE_SIZE + 1)))
        events, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        return render(
            request,
            "orgs/audit.html",
            fragment="orgs/_audit_events.html",
            headers=NO_STORE,
            org=ctx,
            org_section="audit",
            base=f"/o/{ctx.slug}/audit",
            query=query,
            events=events,
            older=query.query_string(before=events[-1].seq) if more else None,
            newest=query.query_string(before=None) if query.before else None,
            members=await _members(db_session, ctx),
        )

    @post("/export", name="org_audit_export", status_code=200)
    async def export(self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData) -> Stream:
        """Every event matching the filters, streamed as CSV, JSON or NDJSON; the export is itself recorded.

        A POST (with its CSRF token), not a link: taking a copy of the log is an event worth
        keeping, and GET requests change nothing [81].
        """
        ctx = org_of(request)
        fmt = str(data.get("format", ""))
        if fmt not in EXPORT_FORMATS:
            raise ValidationException("Choose CSV, JSON or NDJSON.")
        query = replace(AuditLogQuery.parse(data), before=None)
        await audit(
            db_session,
            request,
            "org.audit.exported",
            actor_id=ctx.user_id,
            org_id=ctx.org_id,
            format=fmt,
            filters={key: value for key, value in _filter_fields(query).items() if value},
        )
        # The event commits as the response starts; the rows stream afterwards on their own connection.
        engine = request.app.state.db_config.get_engine()
        stamp = request.app.state.security.clock.now().strftime("%Y%m%d-%H%M%S")
        return Stream(
            export_stream(engine, ctx, User, query.filters, fmt),
            media_type=EXPORT_FORMATS[fmt],
            headers={
                **NO_STORE,
                "Content-Disposition": f'attachment; filename="{ctx.slug}-audit-{stamp}.{fmt}"',
            },
        )


def _filter_fields(query: AuditLogQuery) -> dict[str, str]:
    return {"member": query.member, "action": query.action, "from": query.date_from, "to": query.date_to}
