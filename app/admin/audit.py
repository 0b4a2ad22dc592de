"""`/admin/audit`: the whole platform's audit log: filter, load more, read one event, export, verify.

The query and the exports are the core's (`audit_export.platform_events`, `stream_export`); the
chain check runs as a job (`app.admin.tasks.verify_audit_log`) that records its verdict as an
audit event, so the page shows the newest verdict and when it was reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Stream, Template
from sqlalchemy import select

from app.admin.tasks import VERIFIED_ACTION
from app.auth.core.audit_export import (
    EXPORT_FORMATS,
    AuditFilter,
    event_fields,
    platform_events,
    stream_export,
)
from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.identity import InvalidEmail, canonical_email
from app.auth.core.models import AuditEvent
from app.auth.core.platform_admin import requires_platform_admin
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.jobs import defer
from app.web.flash import flash
from app.web.htmx import render, see_other
from app.web.query_params import optional_uuid, utc_day

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ("AdminAuditController",)

PAGE_SIZE = 50
_NOBODY = UUID(int=0)
FIELDS = ("actor", "target", "org", "action", "outcome", "from", "to")


@dataclass(frozen=True)
class ExplorerQuery:
    """The explorer's filters as typed, and as the core's `AuditFilter`."""

    values: dict[str, str]
    before: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ExplorerQuery:
        """Read the filters; values that do not parse are dropped."""
        values = {name: " ".join(str(params.get(name, "")).split())[:100] for name in FIELDS}
        if values["org"] and optional_uuid(values["org"]) is None:
            values["org"] = ""
        if values["actor"] and optional_uuid(values["actor"]) is None and "@" not in values["actor"]:
            values["actor"] = ""
        if values["outcome"] not in ("", "success", "failure"):
            values["outcome"] = ""
        for name in ("from", "to"):
            if values[name] and utc_day(values[name]) is None:
                values[name] = ""
        before = str(params.get("before", ""))
        return cls(values=values, before=int(before) if before.isdigit() and len(before) < 19 else None)

    @property
    def people(self) -> set[str]:
        """Email addresses typed into the actor or target box (looked up before querying)."""
        return {self.values[name] for name in ("actor", "target") if "@" in self.values[name]}

    def filters(self, ids: Mapping[str, UUID] | None = None) -> AuditFilter:
        """The core's filter, with typed addresses replaced by `ids`; dates are whole UTC days, `to` included.

        An address with no account matches nothing (the nil UUID), rather than being ignored.
        """
        ids = ids or {}
        until = utc_day(self.values["to"])
        actor, target = self.values["actor"], self.values["target"]
        return AuditFilter(
            actor_id=ids.get(actor, _NOBODY) if "@" in actor else optional_uuid(actor),
            target_id=str(ids.get(target, _NOBODY)) if "@" in target else target,
            action=self.values["action"],
            outcome=self.values["outcome"],
            since=utc_day(self.values["from"]),
            until=until + timedelta(days=1) if until else None,
            before_seq=self.before,
        )

    @property
    def org_id(self) -> UUID | None:
        """The organization filter."""
        return optional_uuid(self.values["org"])

    def query_string(self, **changes: Any) -> str:
        """The filters as `?...`, some changed."""
        params = {**self.values, "before": self.before, **changes}
        kept = {key: value for key, value in params.items() if value not in ("", None)}
        return "?" + urlencode(kept) if kept else ""


class AdminAuditController(Controller):
    """The audit explorer."""

    path = "/admin/audit"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/", name="admin_audit")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Newest events first; "Load more" (htmx) appends the next rows, without JS it opens the next page."""
        query = ExplorerQuery.parse(request.query_params)
        filters = query.filters(await _ids_of(db_session, query.people))
        statement = platform_events(User, filters, org_id=query.org_id).limit(PAGE_SIZE + 1)
        rows = list(await db_session.execute(statement))
        events, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        verdict = (
            await db_session.execute(
                select(AuditEvent.occurred_at, AuditEvent.outcome, AuditEvent.details)
                .where(AuditEvent.action == VERIFIED_ACTION)
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            )
        ).first()
        more_link = query.query_string(before=events[-1].seq) if more else None
        return render(
            request,
            "admin/audit.html",
            fragment="admin/_audit_rows.html" if query.before else "admin/_audit_results.html",
            headers=NO_STORE,
            admin_section="audit",
            query=query,
            events=events,
            more_link=more_link,
            verdict=verdict,
        )

    @get("/{seq:int}", name="admin_audit_event")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, seq: FromPath[int]
    ) -> Template:
        """One event, every field."""
        row = (
            await db_session.execute(platform_events(User, AuditFilter()).where(AuditEvent.seq == seq))
        ).first()
        if row is None:
            raise NotFoundException()
        return render(
            request,
            "admin/audit_event.html",
            headers=NO_STORE,
            admin_section="audit",
            event=row,
            fields=event_fields(row),
            hash=row_hash_hex(await db_session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))),
        )

    @post("/export", name="admin_audit_export", status_code=200, guards=[requires_sudo])
    async def export(self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData) -> Stream:
        """Every event matching the filters, streamed; taking the copy is itself recorded."""
        fmt = str(data.get("format", ""))
        if fmt not in EXPORT_FORMATS:
            raise ValidationException("Choose CSV, JSON or NDJSON.")
        query = replace(ExplorerQuery.parse(data), before=None)
        await audit(
            db_session,
            request,
            "admin.audit.exported",
            actor_id=request.user.id,
            format=fmt,
            filters={key: value for key, value in query.values.items() if value},
        )
        filters = query.filters(await _ids_of(db_session, query.people))
        engine = request.app.state.db_config.get_engine()
        stamp = request.app.state.security.clock.now().strftime("%Y%m%d-%H%M%S")
        return Stream(
            stream_export(engine, platform_events(User, filters, org_id=query.org_id), fmt),
            media_type=EXPORT_FORMATS[fmt],
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="audit-{stamp}.{fmt}"'},
        )

    @post("/verify", name="admin_audit_verify", guards=[requires_sudo])
    async def verify(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Check the whole chain in the background; the verdict appears here when it is done."""
        defer(db_session, "verify_audit_log")
        await audit(db_session, request, "admin.audit.verify_requested", actor_id=request.user.id)
        flash(request, "The chain check is running. Reload this page in a moment for the result.", "info")
        return see_other(request, "/admin/audit")


async def _ids_of(db: DBSession, addresses: set[str]) -> dict[str, UUID]:
    """The account ids of typed addresses (one statement, none when nothing was typed)."""
    canonical = {}
    for address in addresses:
        try:
            canonical[canonical_email(address)] = address
        except InvalidEmail:
            continue
    if not canonical:
        return {}
    rows = await db.execute(select(User.email_canonical, User.id).where(User.email_canonical.in_(canonical)))
    return {canonical[email]: user_id for email, user_id in rows}


def row_hash_hex(value: bytes | None) -> str:
    """An event's hash as hex (for the detail page)."""
    return value.hex() if value else ""
