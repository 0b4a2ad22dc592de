"""Organization settings: name, address, security policy, custom roles, and deleting it.

The security policy is stored on the organization and enforced by the core on every request to
`/o/<slug>/...` (`app.auth.core.tenancy`): two-step verification required, the ways of signing in
it accepts, and how old a session may be.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from sqlalchemy import exists, or_, select

from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo
from app.auth.core.landing import NO_STORE
from app.auth.core.models import Organization, TotpCredential, WebAuthnCredential
from app.auth.core.orgs import (
    PERMISSIONS,
    SIGN_IN_KINDS,
    InvalidSlugError,
    OrgRuleError,
    create_custom_role,
    delete_org,
    rename_org,
    rename_slug,
    roles_for,
    set_security_policy,
)
from app.auth.core.security_events import SECURITY_EVENTS
from app.auth.core.tenancy import org_of, requires_org_permission
from app.auth.core.toolkit import security_of
from app.auth.routes.common import FormData
from app.db import DBSession
from app.features import enabled
from app.orgs.forms import text
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("OrgSettingsController",)

SESSION_LIMITS = (3600, 4 * 3600, 8 * 3600)
"""The shorter session lifetimes an organization can choose (seconds)."""


class OrgSettingsController(Controller):
    """`/o/<slug>/settings` and `/o/<slug>/roles`."""

    path = "/o/{org_slug:str}"
    include_in_schema = False

    @get("/settings", name="org_settings", guards=[requires_org_permission("org:settings")])
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Name and address, security policy, danger zone."""
        return await _settings_page(request, db_session)

    @post("/settings/name", name="org_settings_name", guards=[requires_org_permission("org:settings")])
    async def rename(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """A new display name."""
        org = org_of(request)
        name = await rename_org(db_session, org, text(data, "name"))
        await audit(db_session, request, "org.renamed", actor_id=org.user_id, org_id=org.org_id, name=name)
        flash(request, "Name saved.", "success")
        return see_other(request, f"/o/{org.slug}/settings")

    @post("/settings/slug", name="org_settings_slug", guards=[requires_org_permission("org:settings")])
    async def move(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """A new address; links to the old one keep working for members."""
        org = org_of(request)
        try:
            slug = await rename_slug(db_session, org, text(data, "slug"))
        except InvalidSlugError as exc:
            return await _settings_page(
                request, db_session, slug_error=str(exc), typed_slug=text(data, "slug")[:60], status=422
            )
        if slug != org.slug:
            await audit(
                db_session,
                request,
                "org.slug_changed",
                actor_id=org.user_id,
                org_id=org.org_id,
                old=org.slug,
                new=slug,
            )
            flash(request, f"The organization now lives at /o/{slug}/. Old links still lead here.", "success")
        return see_other(request, f"/o/{slug}/settings")

    @post(
        "/settings/security", name="org_settings_security", guards=[requires_org_permission("org:settings")]
    )
    async def save_security_policy(
        self, request: Request[Any, Any, Any], db_session: DBSession
    ) -> Response[Any]:
        """Require two-step verification, limit the ways of signing in, shorten sessions."""
        org = org_of(request)
        form = await request.form()
        limit = text(form, "session_max_age")
        has_factor = bool(
            await db_session.scalar(
                select(
                    or_(
                        exists().where(
                            TotpCredential.user_id == org.user_id, TotpCredential.confirmed_at.is_not(None)
                        ),
                        exists().where(WebAuthnCredential.user_id == org.user_id),
                    )
                )
            )
        )
        await set_security_policy(
            db_session,
            security_of(request),
            org,
            require_mfa=text(form, "require_mfa") == "on",
            allowed_sign_in=[kind for kind in form.getall("allowed_sign_in", []) if isinstance(kind, str)]
            if text(form, "limit_sign_in") == "on"
            else [],
            session_max_age=int(limit) if limit.isdigit() else None,
            actor_has_second_factor=has_factor,
            actor_session_kind=request.auth.kind,
            security_events=_chosen_security_events(request, form),
        )
        await audit(
            db_session, request, "org.security_policy_changed", actor_id=org.user_id, org_id=org.org_id
        )
        flash(request, "Security settings saved. They apply to every member from their next page.", "success")
        return see_other(request, f"/o/{org.slug}/settings")

    @post(
        "/settings/delete", name="org_delete", guards=[requires_org_permission("org:delete"), requires_sudo]
    )
    async def delete(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Delete the organization, after the owner types its address to confirm.

        It closes at once and is purged after the grace period; until then support can restore it.
        """
        org = org_of(request)
        if text(data, "confirm").strip() != org.slug:
            raise OrgRuleError(f"Type {org.slug} to confirm.", status=422)
        security = security_of(request)
        deleted_at = await delete_org(db_session, org, now=security.clock.now())
        purge_on = deleted_at + security.policy.org_deletion_grace
        await audit(
            db_session, request, "org.deleted", actor_id=org.user_id, org_id=org.org_id, slug=org.slug,
            purge_after=purge_on.isoformat(),
        )  # fmt: skip
        flash(
            request,
            f"{org.name} was deleted. It will be purged on {purge_on:%d %B %Y}; "
            "until then, contact support to restore it.",
            "success",
        )
        return see_other(request, "/dashboard")

    @get("/roles", name="org_roles", guards=[requires_org_permission("roles:assign")])
    async def roles(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The built-in and custom roles with their permissions, and a form for a new one."""
        return await _roles_page(request, db_session)

    @post("/roles", name="org_role_create", guards=[requires_org_permission("roles:assign")])
    async def create_role(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """A custom role from permissions the actor holds (the core refuses any other)."""
        org = org_of(request)
        form = await request.form()
        chosen = [p for p in form.getall("permissions", []) if isinstance(p, str)]
        role = await create_custom_role(db_session, org, text(form, "name"), chosen)
        await audit(
            db_session,
            request,
            "org.role.created",
            actor_id=org.user_id,
            org_id=org.org_id,
            target_type="role",
            target_id=str(role.id),
            permissions=role.permissions,
        )
        flash(request, f"Role “{role.name}” created.", "success")
        return see_other(request, f"/o/{org.slug}/roles")


def _chosen_security_events(request: Request[Any, Any, Any], form: Any) -> list[str] | None:
    """The security events the form opts into; None (unchanged) where the form has no such choice."""
    # --- feature: webhooks
    if enabled(request.app.state.settings, "webhooks"):
        return [name for name in form.getall("security_events", []) if isinstance(name, str)]
    # --- end feature: webhooks
    return None


async def _settings_page(
    request: Request[Any, Any, Any],
    db: DBSession,
    *,
    slug_error: str = "",
    typed_slug: str = "",
    status: int = 200,
) -> Template:
    org = org_of(request)
    longest = int(security_of(request).policy.session_absolute_timeout.total_seconds())
    webhook_choices: dict[str, Any] = {}
    # --- feature: webhooks
    if enabled(request.app.state.settings, "webhooks"):
        # Only this page needs the opt-ins: the organization's context on every page leaves them out.
        opted_in = await db.scalar(select(Organization.security_events).where(Organization.id == org.org_id))
        webhook_choices = {"security_events": SECURITY_EVENTS, "opted_in": opted_in or []}
    # --- end feature: webhooks
    return render(
        request,
        "orgs/settings.html",
        org=org,
        org_section="settings",
        sign_in_kinds=SIGN_IN_KINDS,
        session_limits=[s for s in SESSION_LIMITS if s < longest],
        longest=longest,
        slug_error=slug_error,
        typed_slug=typed_slug or org.slug,
        status=status,
        **webhook_choices,
        headers=NO_STORE,
    )


async def _roles_page(request: Request[Any, Any, Any], db: DBSession) -> Template:
    org = org_of(request)
    return render(
        request,
        "orgs/roles.html",
        org=org,
        org_section="settings",
        roles=await roles_for(db, org.org_id),
        permissions=PERMISSIONS,
        headers=NO_STORE,
    )
