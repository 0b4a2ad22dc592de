"""The platform admin console (host pages): dashboard, users, organizations, audit explorer, jobs.

Every route sits behind the core's `requires_platform_admin` (404 for everyone else) and every
write behind `requires_sudo`; the rules of each action are the core's.
"""

from __future__ import annotations

from typing import Any

from app.admin.audit import AdminAuditController
from app.admin.dashboard import AdminDashboardController
from app.admin.errors import EXCEPTION_HANDLERS
from app.admin.impersonation import ImpersonationController, StopImpersonationController
from app.admin.jobs import AdminJobsController
from app.admin.users import AdminUsersController

CONTROLLERS: tuple[Any, ...] = (
    AdminDashboardController,
    AdminUsersController,
    ImpersonationController,
    AdminAuditController,
    AdminJobsController,
    StopImpersonationController,
)
"""Registered by `create_app` when FEATURE_ADMIN is on (see `app.features`)."""

TOKEN_CONTROLLERS: tuple[Any, ...] = ()
"""API tokens on the user and organization pages: registered only when FEATURE_API is on as well."""
# --- feature: api
from app.admin.tokens import AdminTokensController  # noqa: E402 (fenced: goes with the API)

TOKEN_CONTROLLERS += (AdminTokensController,)
# --- end feature: api

ORG_CONTROLLERS: tuple[Any, ...] = ()
"""The admin's organization pages: registered only when FEATURE_ORGS is on as well."""
# --- feature: orgs
from app.admin.orgs import AdminOrgsController  # noqa: E402 (fenced: goes with organizations)

ORG_CONTROLLERS += (AdminOrgsController,)
# --- end feature: orgs

__all__ = ("CONTROLLERS", "EXCEPTION_HANDLERS", "ORG_CONTROLLERS", "TOKEN_CONTROLLERS")
