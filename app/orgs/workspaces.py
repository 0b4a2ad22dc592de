"""Where a signed-in person lands, the list of their organizations, creating one, and its dashboard."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.auth.core.audit_log import audit
from app.auth.core.cookies import cookie_name, set_cookie
from app.auth.core.guards import requires_user
from app.auth.core.landing import NO_STORE
from app.auth.core.orgs import InvalidSlugError, create_org
from app.auth.core.tenancy import org_of, requires_org_member
from app.auth.routes.common import FormData
from app.db import DBSession
from app.orgs.domains import domain_offers, join_on_landing
from app.orgs.forms import NewOrgForm
from app.orgs.invitations import INVITATION_COOKIE
from app.orgs.services import LANDING_PATH, dashboard_facts, landing_slug, orgs_of, recent_activity
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("DashboardController", "WorkspacesController")

LAST_ORG_COOKIE = "last_org"
"""The slug of the organization last opened in this browser: a preference for landing only (the
membership is checked again every time), never a source of the request's organization."""
LAST_ORG_MAX_AGE = 90 * 24 * 3600


class WorkspacesController(Controller):
    """Pages about the person's organizations as a whole."""

    guards = [requires_user]
    include_in_schema = False

    @get(LANDING_PATH, name="landing")
    async def landing(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Forward to the dashboard of the right organization (or to an invitation waiting here)."""
        secure = request.app.state.settings.cookies_secure
        if request.cookies.get(cookie_name(INVITATION_COOKIE, secure=secure)):
            return see_other(request, "/invitations/accept")
        await join_on_landing(request, db_session)
        preferred = request.cookies.get(cookie_name(LAST_ORG_COOKIE, secure=secure), "")
        slug = await landing_slug(db_session, request.user.id, preferred[:48])
        return see_other(request, f"/o/{slug}/" if slug else "/orgs/new")

    @get("/orgs", name="orgs")
    async def index(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Every organization the person belongs to."""
        orgs = await orgs_of(db_session, request.user.id)
        offers = await domain_offers(request, db_session)
        return render(request, "orgs/index.html", orgs=orgs, offers=offers, headers=NO_STORE)

    @get("/orgs/switcher", name="org_switcher")
    async def switcher(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """The switcher's list (htmx loads it when the switcher opens)."""
        orgs = await orgs_of(db_session, request.user.id)
        return Template("orgs/_switcher_list.html", context={"orgs": orgs}, headers=NO_STORE)

    @get("/orgs/new", name="org_new")
    async def new(self, request: Request[Any, Any, Any]) -> Template:
        """The form to create an organization."""
        return render(request, "orgs/new.html", form=NewOrgForm(), headers=NO_STORE)

    @post("/orgs/new", name="org_create")
    async def create(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Create it with the person as owner, then open its dashboard."""
        form = NewOrgForm.parse(data)
        if not form.errors:
            try:
                org = await create_org(db_session, owner_id=request.user.id, name=form.name, slug=form.slug)
            except InvalidSlugError as exc:
                form.errors["slug"] = str(exc)
        if form.errors:
            return render(
                request,
                "orgs/new.html",
                fragment="orgs/_new_form.html",
                form=form,
                status=422,
                headers=NO_STORE,
            )
        await audit(
            db_session, request, "org.created", actor_id=request.user.id, org_id=org.id, slug=org.slug
        )
        flash(request, f"{org.name} is ready. Invite your teammates from Members.", "success")
        return see_other(request, f"/o/{org.slug}/")


class DashboardController(Controller):
    """The organization's home page."""

    path = "/o/{org_slug:str}"
    guards = [requires_org_member]
    include_in_schema = False

    @get("/", name="org_dashboard")
    async def dashboard(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Its name, a welcome checklist while it is new, and what happened in it lately."""
        org = org_of(request)
        now = request.app.state.security.clock.now()
        facts = await dashboard_facts(db_session, org.org_id, request.user.id, now)
        activity = await recent_activity(db_session, org.org_id)
        response = render(
            request,
            "orgs/dashboard.html",
            org=org,
            org_section="dashboard",
            facts=facts,
            activity=activity,
            headers=NO_STORE,
        )
        secure = request.app.state.settings.cookies_secure
        set_cookie(
            response,
            cookie_name(LAST_ORG_COOKIE, secure=secure),
            org.slug,
            secure=secure,
            max_age=LAST_ORG_MAX_AGE,
        )
        return response
