"""Projects pages under `/o/{org_slug}/projects`: thin handlers over `app.projects.services`.

Reading needs membership of the organization in the URL (`requires_org_member`); every change
needs `projects:write` (`requires_org_permission`), checked by the guard on each route,
including the htmx fragment routes [68]. A plain form POST answers with a redirect; the same
POST from htmx answers with the fragment it replaces (a row, or the form with its errors).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.auth.core.orgs import OrgContext
from app.auth.core.tenancy import org_of, requires_org_member, requires_org_permission
from app.auth.routes.common import NO_STORE, FormData
from app.db import DBSession
from app.projects import services
from app.projects.forms import ProjectForm
from app.projects.services import ProjectQuery
from app.web.flash import flash
from app.web.htmx import is_htmx, render, see_other

__all__ = ("ProjectController",)

can_write = requires_org_permission("projects:write")


def projects_path(ctx: OrgContext) -> str:
    """The organization's project list."""
    return f"/o/{ctx.slug}/projects"


def _page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    fragment: str | None = None,
    status: int = 200,
    **context: Any,
) -> Template:
    ctx = org_of(request)
    return render(
        request,
        template,
        fragment=fragment,
        status=status,
        headers=NO_STORE,
        org=ctx,
        org_section="projects",
        base=projects_path(ctx),
        **context,
    )


class ProjectController(Controller):
    """An organization's projects: list and search, create, edit in place, archive, delete."""

    path = "/o/{org_slug:str}/projects"
    guards = [requires_org_member]
    include_in_schema = False

    @get("/", name="projects")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The list, searched and paged by the query string (htmx gets only the results)."""
        query = ProjectQuery.parse(request.query_params)
        listing = await services.list_projects(db_session, org_of(request), query)
        return _page(request, "projects/index.html", fragment="projects/_results.html", listing=listing)

    @get("/new", name="projects_new", guards=[can_write])
    async def new(self, request: Request[Any, Any, Any]) -> Template:
        """The form for a new project."""
        return _page(request, "projects/new.html", form=ProjectForm())

    @post("/", name="projects_create", guards=[can_write])
    async def create(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Create the project, or show the form again with what is wrong."""
        form = ProjectForm.parse(data)
        if form.errors:
            return _page(
                request, "projects/new.html", fragment="projects/_new_form.html", form=form, status=422
            )
        project = await services.create_project(db_session, request, org_of(request), form)
        flash(request, f"Project “{project.name}” created.", "success")
        return see_other(request, projects_path(org_of(request)))

    @get("/{project_id:uuid}", name="projects_show")
    async def show(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Template:
        """One project (htmx gets its row: how an inline edit is cancelled)."""
        project = await services.find_project(db_session, org_of(request), project_id)
        return _page(request, "projects/show.html", fragment="projects/_project.html", project=project)

    @get("/{project_id:uuid}/edit", name="projects_edit", guards=[can_write])
    async def edit(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Template:
        """The edit form: in place of the row for htmx, its own page without JavaScript."""
        project = await services.find_project(db_session, org_of(request), project_id)
        return _page(
            request,
            "projects/edit.html",
            fragment="projects/_project_form.html",
            project=project,
            form=ProjectForm.of(project),
        )

    @post("/{project_id:uuid}", name="projects_update", guards=[can_write])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        project_id: FromPath[UUID],
        data: FormData,
    ) -> Response[Any]:
        """Save the name and summary; htmx gets the updated row back."""
        ctx = org_of(request)
        form = ProjectForm.parse(data)
        if form.errors:
            project = await services.find_project(db_session, ctx, project_id)
            return _page(
                request,
                "projects/edit.html",
                fragment="projects/_project_form.html",
                project=project,
                form=form,
                status=422,
            )
        project = await services.update_project(db_session, request, ctx, project_id, form)
        flash(request, f"Project “{project.name}” saved.", "success")
        if is_htmx(request):
            return _page(
                request,
                "projects/show.html",
                fragment="projects/_project.html",
                project=project,
                focus="edit",
            )
        return see_other(request, projects_path(ctx))

    @post("/{project_id:uuid}/archive", name="projects_archive", guards=[can_write])
    async def archive(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Response[Any]:
        """Archive the project."""
        project = await services.archive_project(db_session, request, org_of(request), project_id)
        flash(request, f"Project “{project.name}” archived.", "success")
        return self._row_or_list(request, project, focus="unarchive")

    @post("/{project_id:uuid}/unarchive", name="projects_unarchive", guards=[can_write])
    async def unarchive(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Response[Any]:
        """Bring the project back from the archive."""
        project = await services.unarchive_project(db_session, request, org_of(request), project_id)
        flash(request, f"Project “{project.name}” is active again.", "success")
        return self._row_or_list(request, project, focus="archive")

    @get("/{project_id:uuid}/delete", name="projects_delete_confirm", guards=[can_write])
    async def confirm_delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Template:
        """Ask before deleting: deleting cannot be undone."""
        project = await services.find_project(db_session, org_of(request), project_id)
        return _page(request, "projects/delete.html", project=project)

    @post("/{project_id:uuid}/delete", name="projects_delete", guards=[can_write])
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, project_id: FromPath[UUID]
    ) -> Response[Any]:
        """Delete the project for good."""
        name = await services.delete_project(db_session, request, org_of(request), project_id)
        flash(request, f"Project “{name}” deleted.", "success")
        return see_other(request, projects_path(org_of(request)))

    @staticmethod
    def _row_or_list(request: Request[Any, Any, Any], project: Any, *, focus: str) -> Response[Any]:
        if is_htmx(request):
            return _page(
                request, "projects/show.html", fragment="projects/_project.html", project=project, focus=focus
            )
        return see_other(request, projects_path(org_of(request)))
