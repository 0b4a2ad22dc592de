"""Site pages that belong to no feature: home, the form demo, the theme switch, the landing page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from app.auth.core.cookies import cookie_name, set_cookie
from app.auth.core.guards import requires_user
from app.auth.core.redirects import safe_redirect_target
from app.web.flash import flash
from app.web.forms import DemoForm
from app.web.htmx import is_htmx, render, see_other
from app.web.landing import LANDING_PATH
from app.web.templating import THEME_COOKIE, THEMES

FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)

THEME_MAX_AGE = 365 * 24 * 3600


class SiteController(Controller):
    """Home page and site-wide preferences."""

    include_in_schema = False

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        """What Gatehouse is, and a form that shows the request pipeline at work."""
        return render(request, "home.html", form=DemoForm.empty())

    @post("/demo", name="demo")
    async def demo(
        self, request: Request[Any, Any, Any], data: Annotated[dict[str, str], FormBody]
    ) -> Template | Response[Any]:
        """Validate the demo form; errors re-render it, success flashes and redirects."""
        form = DemoForm.parse(data)
        if form.errors:
            return render(request, "home.html", fragment="_demo_form.html", form=form, status=422)
        flash(request, f"Message received: {form.message}", "success")
        if is_htmx(request):
            return render(
                request, "home.html", fragment="_demo_form.html", form=DemoForm.empty(), sent=form.message
            )
        return see_other(request, "/#demo")

    @post("/theme", name="theme")
    async def theme(
        self, request: Request[Any, Any, Any], data: Annotated[dict[str, str], FormBody]
    ) -> Response[Any]:
        """Remember the colour theme in a cookie so the first paint already uses it."""
        theme = data.get("theme", "system")
        theme = theme if theme in THEMES else "system"
        back = safe_redirect_target(data.get("next"), default="/")
        response = Response(content=None, status_code=204) if is_htmx(request) else see_other(request, back)
        secure = request.app.state.settings.cookies_secure
        set_cookie(
            response, cookie_name(THEME_COOKIE, secure=secure), theme, secure=secure, max_age=THEME_MAX_AGE
        )
        return response


class AccountLandingController(Controller):
    """`/dashboard` when FEATURE_ORGS is off: sign-in, registration and "already signed in" land here.

    With organizations on, their dashboard answers this path; without them there is no product page
    yet, so the account's settings are the landing. A fork replaces this with its own first page.
    """

    include_in_schema = False

    @get(LANDING_PATH, name="landing", guards=[requires_user])
    async def landing(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Into the account's settings."""
        return see_other(request, "/settings/profile")
