"""The rules of projects: list, create, edit, archive, delete, each change with its audit event.

Every query starts from `tenancy.scoped(Project, ctx)` or `get_scoped(...)`, so it can only see
the caller's organization; a project of another organization is "not found", exactly like one
that never existed [69]. The organization and the creator come from the `OrgContext`, never from
the form [70]. Each change records an audit event in the same transaction, with the org's id so
the organization's audit log lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from math import ceil
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar.exceptions import NotFoundException
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import joinedload

from app.auth.core.audit_log import audit
from app.auth.core.tenancy import OrgPermissionDenied, get_scoped, scoped
from app.auth.models import User
from app.features import enabled
from app.projects.models import Project

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.orgs import OrgContext
    from app.projects.forms import ProjectForm

__all__ = (
    "PER_PAGE",
    "ProjectListing",
    "ProjectNotFound",
    "ProjectQuery",
    "Status",
    "archive_project",
    "create_project",
    "delete_org_projects",
    "delete_project",
    "find_project",
    "list_projects",
    "unarchive_project",
    "update_project",
)

PER_PAGE = 20
SEARCH_MAX = 100
WRITE = "projects:write"


class ProjectNotFound(NotFoundException):
    """No project by that id in the caller's organization (another org's project included)."""


class Status(StrEnum):
    """Which projects the list shows."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    ALL = "all"


@dataclass(frozen=True)
class ProjectQuery:
    """What the list was asked for: a search, a status and a page (from the query string)."""

    search: str = ""
    status: Status = Status.ACTIVE
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ProjectQuery:
        """Read `q`, `status` and `page`; anything odd falls back to the default."""
        search = " ".join(str(params.get("q", "")).split())[:SEARCH_MAX]
        status = Status(params["status"]) if params.get("status") in set(Status) else Status.ACTIVE
        page = str(params.get("page", ""))
        return cls(
            search=search, status=status, page=int(page) if page.isdigit() and 0 < int(page) < 10**6 else 1
        )

    def url(self, base: str, **changes: Any) -> str:
        """`base` with this query's parameters (defaults left out), some of them changed."""
        values = {"q": self.search, "status": self.status.value, "page": self.page, **changes}
        defaults = {"q": "", "status": Status.ACTIVE.value, "page": 1}
        params = {key: value for key, value in values.items() if value != defaults[key]}
        return f"{base}?{urlencode(params)}" if params else base


@dataclass(frozen=True)
class ProjectListing:
    """One page of projects and where it sits among the others."""

    projects: list[Project]
    total: int
    query: ProjectQuery

    @property
    def pages(self) -> int:
        """How many pages there are (at least one, even when empty)."""
        return max(1, ceil(self.total / PER_PAGE))

    @property
    def first_shown(self) -> int:
        """The position of the page's first project (1-based), for "21-40 of 57"."""
        return (self.query.page - 1) * PER_PAGE + 1 if self.projects else 0

    @property
    def last_shown(self) -> int:
        """The position of the page's last project."""
        return self.first_shown + len(self.projects) - 1 if self.projects else 0


async def list_projects(db: AsyncSession, ctx: OrgContext, query: ProjectQuery) -> ProjectListing:
    """A page of the organization's projects, with their creators: two statements, whatever the page size."""
    filtered = scoped(Project, ctx)
    if query.status is Status.ACTIVE:
        filtered = filtered.where(Project.archived_at.is_(None))
    elif query.status is Status.ARCHIVED:
        filtered = filtered.where(Project.archived_at.is_not(None))
    if query.search:
        pattern = "%" + query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filtered = filtered.where(
            or_(Project.name.ilike(pattern, escape="\\"), Project.summary.ilike(pattern, escape="\\"))
        )
    total = int(await db.scalar(select(func.count()).select_from(filtered.subquery())) or 0)
    query = replace(
        query, page=min(query.page, max(1, ceil(total / PER_PAGE)))
    )  # past the end: the last page
    rows = await db.scalars(
        filtered.options(joinedload(Project.creator).load_only(User.display_name, User.email))
        .order_by(func.lower(Project.name), Project.id)
        .limit(PER_PAGE)
        .offset((query.page - 1) * PER_PAGE)
    )
    return ProjectListing(projects=list(rows), total=total, query=query)


async def find_project(db: AsyncSession, ctx: OrgContext, project_id: UUID) -> Project:
    """The organization's project by id, or `ProjectNotFound` (404)."""
    project: Project | None = await db.scalar(
        scoped(Project, ctx)
        .where(Project.id == project_id)
        .options(joinedload(Project.creator).load_only(User.display_name, User.email))
    )
    if project is None:
        raise ProjectNotFound()
    return project


async def create_project(
    db: AsyncSession, request: Request[Any, Any, Any], ctx: OrgContext, form: ProjectForm
) -> Project:
    """A new project in the caller's organization, created by them."""
    _require_write(ctx)
    project = Project(org_id=ctx.org_id, created_by=ctx.user_id, name=form.name, summary=form.summary)
    db.add(project)
    await db.flush()
    await _audit(db, request, ctx, "project.created", project)
    return project


async def update_project(
    db: AsyncSession, request: Request[Any, Any, Any], ctx: OrgContext, project_id: UUID, form: ProjectForm
) -> Project:
    """Save a project's name and summary (only those two; nothing else is taken from the form)."""
    _require_write(ctx)
    project = await find_project(db, ctx, project_id)
    changed = [name for name in ("name", "summary") if getattr(project, name) != getattr(form, name)]
    if changed:
        project.name, project.summary = form.name, form.summary
        await db.flush()
        await _audit(db, request, ctx, "project.updated", project, changed=changed)
    return project


async def archive_project(
    db: AsyncSession, request: Request[Any, Any, Any], ctx: OrgContext, project_id: UUID
) -> Project:
    """Archive a project (hidden from the default list, kept with its history)."""
    _require_write(ctx)
    project = await find_project(db, ctx, project_id)
    if project.archived_at is None:
        project.archived_at = _now(request)
        await db.flush()
        await _audit(db, request, ctx, "project.archived", project)
    return project


async def unarchive_project(
    db: AsyncSession, request: Request[Any, Any, Any], ctx: OrgContext, project_id: UUID
) -> Project:
    """Bring an archived project back to the list."""
    _require_write(ctx)
    project = await find_project(db, ctx, project_id)
    if project.archived_at is not None:
        project.archived_at = None
        await db.flush()
        await _audit(db, request, ctx, "project.unarchived", project)
    return project


async def delete_project(
    db: AsyncSession, request: Request[Any, Any, Any], ctx: OrgContext, project_id: UUID
) -> str:
    """Delete a project for good; its name (for the confirmation message)."""
    _require_write(ctx)
    project = await get_scoped(db, Project, ctx, project_id)
    if project is None:
        raise ProjectNotFound()
    await _audit(db, request, ctx, "project.deleted", project)
    await db.delete(project)
    await db.flush()
    return project.name


async def delete_org_projects(db: AsyncSession, org_id: UUID) -> None:
    """Remove every project of an organization being purged (an `OrgPurgeHook`, see `app.orgs.tasks`).

    The foreign key would cascade anyway; the hook is where a fork's own clean-up goes (files in
    object storage, search indexes), which no foreign key reaches.
    """
    await db.execute(delete(Project).where(Project.org_id == org_id))


def _require_write(ctx: OrgContext) -> None:
    # The routes' guard already checked; a service called from elsewhere (a job, the API) checks too.
    if not ctx.can(WRITE):
        raise OrgPermissionDenied(WRITE)


def _now(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.security.clock.now()


async def _audit(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    ctx: OrgContext,
    action: str,
    project: Project,
    **details: Any,
) -> None:
    await audit(
        db,
        request,
        action,
        actor_id=ctx.user_id,
        org_id=ctx.org_id,
        target_type="project",
        target_id=str(project.id),
        name=project.name,
        **details,
    )
    # --- feature: webhooks
    if enabled(request.app.state.settings, "webhooks"):  # switched off: nothing is sent, nothing queued
        from app.api.webhooks import announce_project  # app.api's routes import this module

        await announce_project(db, ctx.org_id, action, project, _now(request))
    # --- end feature: webhooks
