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
from sqlalchemy import func, select

from app.api import services
from app.api.etags import IfMatch, IfNoneMatch, check_if_match, etag_of, with_etag
from app.api.problems import CHANGE_PROBLEMS, PROBLEMS, READ_PROBLEMS, Problem
from app.api.schemas import (
    InvitationIn,
    InvitationOut,
    Me,
    Member,
    Org,
    Page,
    ProjectIn,
    ProjectOut,
    ProjectPatch,
    Session,
    Status,
)
from app.auth.core.api_auth import api_org_context, principal_of, requires_scope, requires_token
from app.auth.core.audit_log import audit
from app.auth.core.invitations import invite, revoke_invitation
from app.auth.core.models import OrgInvitation
from app.auth.core.orgs import OrgContext, roles_for
from app.auth.core.session_store import end_session, list_sessions
from app.auth.core.tenancy import OrgPermissionDenied
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.db import DBSession
from app.orgs import events
from app.orgs.invitations import mail_invitation
from app.projects import services as projects
from app.projects.forms import ProjectForm

__all__ = ("InvitationsController", "MeController", "OrgsController", "ProjectsController")

OrgInPath = NamedDependency[OrgContext]
"""Handler parameter type for the organization in the path, as the token may act in it: `org: OrgInPath`."""


async def _org(request: Request[Any, Any, Any], org_slug: FromPath[str]) -> OrgContext:
    return await api_org_context(request, org_slug)


class MeController(Controller):
    """The account a personal token acts as."""

    path = "/me"
    tags = ["account"]

    @get("/", responses=READ_PROBLEMS, guards=[requires_scope("account:read")], summary="The token's user")
    async def me(
        self, request: Request[Any, Any, Any], db_session: DBSession, if_none_match: IfNoneMatch = None
    ) -> Response[Me]:
        """Who this token acts as, and what it may do (with an `ETag`; `If-None-Match` may answer 304)."""
        principal = principal_of(request)
        display_name = await db_session.scalar(select(User.display_name).where(User.id == request.user.id))
        me = Me(
            id=request.user.id,
            email=request.user.email,
            display_name=display_name or "",
            token_id=principal.public_id,
            scopes=sorted(principal.scopes),
        )
        return with_etag(me, if_none_match)

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


class InvitationsController(Controller):
    """An organization's pending invitations: list, send, revoke (needs `members:invite`, like the page)."""

    path = "/orgs/{org_slug:str}/invitations"
    tags = ["organizations"]
    guards = [requires_token]
    dependencies = {"org": Provide(_org)}

    @get("/", responses=PROBLEMS, summary="Pending invitations")
    async def list_invitations(
        self, request: Request[Any, Any, Any], db_session: DBSession, org: OrgInPath
    ) -> list[InvitationOut]:
        """The invitations waiting to be accepted, newest first."""
        _may_invite(org)
        return await services.list_invitations(db_session, org, security_of(request).clock.now())

    @post("/", responses=CHANGE_PROBLEMS, status_code=HTTP_201_CREATED, summary="Invite someone")
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        data: JSONBody[InvitationIn],
    ) -> Response[InvitationOut]:
        """Mail an invitation to an address, with a role the caller may grant. The answer is the
        same whether or not the address has an account; the link goes only to the mailbox."""
        _may_invite(org)
        if org.user_id is None:
            raise Problem(403, "This organization token's maker is gone: it cannot invite anyone.")
        role = next((r for r in await roles_for(db_session, org.org_id) if r.key == data.role), None)
        if role is None:
            raise Problem(
                422, "No such role.", errors=[{"field": "role", "message": "No role with that key."}]
            )
        security = security_of(request)
        invitation, token = await invite(db_session, security, org, data.email, role.id)
        inviter = await db_session.scalar(
            select(func.coalesce(func.nullif(User.display_name, ""), User.email)).where(
                User.id == org.user_id
            )
        )
        mail_invitation(db_session, request, org, invitation, token, role.name, inviter=inviter or org.name)
        await audit(
            db_session,
            request,
            "org.invitation.sent",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="invitation",
            target_id=str(invitation.id),
            via="api",
        )
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.created", invitation, security.clock.now()
        )
        return Response(
            services.invitation_out(invitation, role),
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/api/v1/orgs/{org.slug}/invitations/{invitation.id}"},
        )

    @delete(
        "/{invitation_id:uuid}",
        responses=PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an invitation",
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        invitation_id: FromPath[UUID],
    ) -> None:
        """Revoke a pending invitation: its link stops working."""
        _may_invite(org)
        security = security_of(request)
        if not await revoke_invitation(db_session, security, org, invitation_id):
            raise Problem(404, "No such pending invitation.")
        await audit(
            db_session,
            request,
            "org.invitation.revoked",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="invitation",
            target_id=str(invitation_id),
            via="api",
        )
        revoked = await db_session.get_one(OrgInvitation, invitation_id)
        await events.announce_invitation(
            db_session, request.app.state.settings, "invitation.revoked", revoked, security.clock.now()
        )


def _may_invite(org: OrgContext) -> None:
    if not org.can("members:invite"):
        raise OrgPermissionDenied("members:invite")


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

    @get("/{project_id:uuid}", responses=READ_PROBLEMS, summary="One project")
    async def read(
        self,
        db_session: DBSession,
        org: OrgInPath,
        project_id: FromPath[UUID],
        if_none_match: IfNoneMatch = None,
    ) -> Response[ProjectOut]:
        """A project of the organization (with an `ETag`; `If-None-Match` may answer 304)."""
        project = await projects.find_project(db_session, org, project_id)
        return with_etag(services.project_out(project), if_none_match)

    @patch("/{project_id:uuid}", responses=CHANGE_PROBLEMS, summary="Change a project")
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        project_id: FromPath[UUID],
        data: JSONBody[ProjectPatch],
        if_match: IfMatch = None,
    ) -> Response[ProjectOut]:
        """Rename, re-describe, archive or restore a project (needs `projects:write`); with
        `If-Match`, only if it is still the version of that ETag (else 412)."""
        project = await projects.find_project(db_session, org, project_id)
        check_if_match(if_match, services.project_out(project))
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
        out = services.project_out(project)
        return Response(out, headers={"ETag": etag_of(out)})

    @delete(
        "/{project_id:uuid}",
        responses=CHANGE_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a project",
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: DBSession,
        org: OrgInPath,
        project_id: FromPath[UUID],
        if_match: IfMatch = None,
    ) -> None:
        """Delete a project for good (needs `projects:write`); with `If-Match`, only that version."""
        if if_match is not None:
            check_if_match(
                if_match, services.project_out(await projects.find_project(db_session, org, project_id))
            )
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
