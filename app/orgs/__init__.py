"""Organizations: the host's pages for workspaces, members, roles, invitations, domains and settings.

The rules (roles, the last owner, invitations, tenant isolation, per-org security policy) are the
core's (`app.auth.core.orgs`, `invitations`, `tenancy`); these controllers show them. Org pages
live under `/o/{org_slug}/` and are guarded by `requires_org_member` or
`requires_org_permission(...)`, which put the request's `OrgContext` in `request.scope["org"]`.
"""

from __future__ import annotations

from typing import Any

from app.orgs.audit import OrgAuditController
from app.orgs.domains import DomainJoinController, DomainsController
from app.orgs.invitations import InvitationController
from app.orgs.members import MembersController
from app.orgs.settings import OrgSettingsController
from app.orgs.workspaces import DashboardController, WorkspacesController
from app.projects.routes import ProjectController

CONTROLLERS: tuple[Any, ...] = (
    WorkspacesController,
    DashboardController,
    MembersController,
    InvitationController,
    OrgSettingsController,
    ProjectController,
    OrgAuditController,
    DomainsController,
    DomainJoinController,
)
"""Every org controller, registered by `create_app` (each feature adds its own here)."""

__all__ = ("CONTROLLERS",)
