"""`/api/v1`: the account, its sessions, organizations, members and projects, for bearer tokens.

Every route is guarded by `requires_token` (or `requires_scope(...)`, which includes it): the
browser's session cookie is never looked at here [78]. Organization routes get their `OrgContext`
from `api_org_context`, read fresh on every call, so a token's rights follow its owner's role.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import select

from app.api import services
from app.api.problems import PROBLEMS, Problem
from app.api.schemas import Me, Member, Org, Page, ProjectIn, ProjectOut, ProjectPatch, Session, Status
from app.auth.core.api_auth import api_org_context, principal_of, requires_scope, requires_token
from app.auth.core.audit_log import audit
from app.auth.core.orgs import OrgContext
from app.auth.core.session_store import end_session, list_sessions
from app.auth.core.tenancy import OrgPermissionDenied
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.db import DBSession
from app.projects import services as projects
from app.projects.forms import ProjectForm

__all__ = ("MeController", "OrgsController", "ProjectsController")

OrgInPath = NamedDependency[OrgContext]
"""Handler parameter type for the organization in the path, as the token may act in it: `org: OrgInPath`."""


async def _org(request: Request[Any, Any, Any], org_slug: FromPath[str]) -> OrgContext:
    return await api_org_context(request, org_slug)


class MeController(Controller):
    """The account a personal token acts as."""

    path = "/me"
    tags = ["account"]

    @get("/", responses=PROBLEMS, guards=[requires_scope("account:read")], summary="The token's user")
    async def me(self, request: Request[Any, Any, Any], db_session: DBSession) -> Me:
        """Who this token acts as, and what it may do."""
        principal = principal_of(request)
        display_name = await db_session.scalar(select(User.display_name).where(User.id == request.user.id))
        return Me(
            id=request.user.id,
            email=request.user.email,
            display_name=display_name or "",
            token_id=principal.public_id,
            scopes=sorted(principal.scopes),
        )

    @get(
        "/sessions", responses=PROBLEMS, guards=[requires_scope("account:read")], summary="Signed-in browsers"
    )
    async def sessions(self, request: Request[Any, Any, Any], db_session: DBSession) -> list[Session]:
        """The browsers signed in to the account, most recently used first."""
        rows = await list_sessions(db_session, request.user.id, security_of(request))
        return [
            Session(r.id, r.kind, r.device_label, r.ip_address, r.created_at, r.last_seen_at) for r in rows
        ]

    @delete(
        "/sessions/{session_id:uuid}",
        responses=PROBLEMS,
        guards=[requires_scope("sessions:manage")],
        status_code=HTTP_204_NO_CONTENT,
        summary="Sign a browser out",
    )
    async def revoke_session(
        self, request: Request[Any, Any, Any], db_session: DBSession, session_id: FromPath[UUID]
    ) -> None:
        """Sign one browser out of the account."""
        if not await end_session(db_session, session_id, user_id=request.user.id):
            raise Problem(404, "No such session.")
        await audit(
            db_session,
            request,
            "auth.session.revoked",
            user_id=request.user.id,
            revoked_id=str(session_id),
            via="api",
        )


class OrgsController(Controller):
    """Organizations and their members."""

    path = "/orgs"
    tags = ["organizations"]
    guards = [requires_token]

    @get("/", responses=PROBLEMS, summary="Organizations the token reaches")
    async def list_orgs(self, request: Request[Any, Any, Any], db_session: DBSession) -> list[Org]:
        """Every organization this token can act in, with the permissions it has there."""
        return await services.list_orgs(db_session, principal_of(request))

    @get(
        "/{org_slug:str}", responses=PROBLEMS, dependencies={"org": Provide(_org)}, summary="One organization"
    )
    async def get_org(self, org: OrgInPath) -> Org:
        """An organization, and what this token may do in it."""
        return Org(org.slug, org.name, org.personal, sorted(org.permissions))

    @get(
        "/{org_slug:str}/members", responses=PROBLEMS, dependencies={"org": Provide(_org)}, summary="Members"
    )
    async def members(self, db_session: DBSession, org: OrgInPath) -> list[Member]:
        """The organization's members and their roles."""
        return await services.list_members(db_session, org)


class ProjectsController(Controller):
    """An organization's projects: list (cursor pages, filters), create, read, change, delete."""

    path = "/orgs/{org_slug:str}/projects"
    tags = ["projects"]
    guards = [requires_token]
    dependencies = {"org": Provide(_org)}

    @get("/", responses=PROBLEMS, summary="List projects")
    async def list_projects(
        self,
        db_session: DBSession,
        org: OrgInPath,
        status: Annotated[
            Status, QueryParameter(description="Which projects: active, archived or all")
        ] = "active",
        q: Annotated[str, QueryParameter(max_length=100, description="Search in names and summaries")] = "",
        limit: Annotated[int, QueryParameter(ge=1, le=services.MAX_LIMIT)] = 20,
        cursor: Annotated[
            str | None, QueryParameter(max_length=64, description="`next_cursor` of the previous page")
        ] = None,
    ) -> Page[ProjectOut]:
        """The organization's projects, oldest first, `limit` at a time."""
        items, next_cursor = await services.list_projects(
            db_session, org, status=status, search=q, limit=limit, cursor=cursor
        )
        return Page(items=items, next_cursor=next_cursor)

    @post("/", responses=PROBLEMS, status_code=HTTP_201_CREATED, summary="Create a project")
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        data: JSONBody[ProjectIn],
    ) -> Response[ProjectOut]:
        """A new project (needs `projects:write`)."""
        form = _form({"name": data.name, "summary": data.summary})
        project = await projects.create_project(db_session, request, org, form)
        return Response(
            services.project_out(project),
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/api/v1/orgs/{org.slug}/projects/{project.id}"},
        )

    @get("/{project_id:uuid}", responses=PROBLEMS, summary="One project")
    async def read(self, db_session: DBSession, org: OrgInPath, project_id: FromPath[UUID]) -> ProjectOut:
        """A project of the organization."""
        return services.project_out(await projects.find_project(db_session, org, project_id))

    @patch("/{project_id:uuid}", responses=PROBLEMS, summary="Change a project")
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        project_id: FromPath[UUID],
        data: JSONBody[ProjectPatch],
    ) -> ProjectOut:
        """Rename, re-describe, archive or restore a project (needs `projects:write`)."""
        project = await projects.find_project(db_session, org, project_id)
        if data.name is not None or data.summary is not None:
            form = _form(
                {
                    "name": project.name if data.name is None else data.name,
                    "summary": project.summary if data.summary is None else data.summary,
                }
            )
            project = await projects.update_project(db_session, request, org, project_id, form)
        if data.archived is True:
            project = await projects.archive_project(db_session, request, org, project_id)
        elif data.archived is False:
            project = await projects.unarchive_project(db_session, request, org, project_id)
        nothing_asked = data.name is None and data.summary is None and data.archived is None
        if nothing_asked and not org.can("projects:write"):
            raise OrgPermissionDenied("projects:write")
        return services.project_out(project)

    @delete(
        "/{project_id:uuid}", responses=PROBLEMS, status_code=HTTP_204_NO_CONTENT, summary="Delete a project"
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        project_id: FromPath[UUID],
    ) -> None:
        """Delete a project for good (needs `projects:write`)."""
        await projects.delete_project(db_session, request, org, project_id)


def _form(values: dict[str, str]) -> ProjectForm:
    form = ProjectForm.parse(values)
    if form.errors:
        raise Problem(
            422,
            "The project is not valid.",
            errors=[{"field": name, "message": message} for name, message in form.errors.items()],
        )
    return form
