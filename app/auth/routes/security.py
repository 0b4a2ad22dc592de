"""The account's security: the overview page, two-step verification, backup codes, trusted browsers.

The flows are the core's (`app.auth.core.mfa`, `app.auth.core.second_factor`); this controller
shows them. Pages that show a secret (the enrolment QR code, backup codes) are `no-store` and kept
out of htmx's history, so the secret is not left in a cache or a restored page [50].
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import func, select

from app.auth.core import totp
from app.auth.core.audit_log import audit
from app.auth.core.guards import requires_sudo, requires_user
from app.auth.core.impersonation import refuses_impersonation, support_visits
from app.auth.core.limits import limit_posts_per_ip
from app.auth.core.mfa import (
    NoSecondFactorError,
    disable_totp,
    finish_totp_enrolment,
    regenerate_backup_codes,
    start_totp_enrolment,
)
from app.auth.core.models import AuthSession, WebAuthnCredential
from app.auth.core.second_factor import (
    factors_of,
    forget_trusted_browsers,
    list_trusted_browsers,
    revoke_trusted_browser,
)
from app.auth.core.sessions import idle_cutoff
from app.auth.core.toolkit import security_of
from app.auth.models import User
from app.auth.routes.common import NO_STORE, FormData
from app.auth.routes.two_factor import problem_text
from app.db import DBSession
from app.web.flash import flash
from app.web.htmx import render, see_other

__all__ = ("SecurityController", "TwoFactorSettingsController")

SECRET_PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer"}


class SecurityController(Controller):
    """`/settings/security`: the overview, and the browsers trusted to skip the second step."""

    path = "/settings"
    guards = [requires_user, refuses_impersonation]
    include_in_schema = False

    @get("/security", name="settings_security")
    async def overview(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Everything that protects the account, at a glance, each with its action."""
        security = security_of(request)
        user_id = request.user.id
        now = security.clock.now()
        facts = (
            await db_session.execute(
                select(
                    select(User.password_changed_at).where(User.id == user_id).scalar_subquery(),
                    select(func.count(AuthSession.id))
                    .where(
                        AuthSession.user_id == user_id,
                        AuthSession.expires_at > now,
                        AuthSession.last_seen_at > idle_cutoff(now, security.policy),
                    )
                    .scalar_subquery(),
                )
            )
        ).one()
        passkeys = (
            await db_session.scalars(
                select(WebAuthnCredential)
                .where(WebAuthnCredential.user_id == user_id)
                .order_by(WebAuthnCredential.created_at)
            )
        ).all()
        return render(
            request,
            "settings/security.html",
            section="security",
            factors=await factors_of(db_session, user_id),
            password_changed_at=facts[0],
            session_count=int(facts[1] or 0),
            passkeys=passkeys,
            trusted=await list_trusted_browsers(db_session, user_id, security),
            support_visits=await support_visits(db_session, user_id),
            headers=NO_STORE,
        )

    @post("/security/trusted/{browser_id:uuid}/revoke", name="settings_trusted_revoke")
    async def revoke_trusted(
        self, request: Request[Any, Any, Any], db_session: DBSession, browser_id: FromPath[UUID]
    ) -> Response[Any]:
        """Stop trusting one browser: it is asked for the second factor at its next sign-in."""
        if await revoke_trusted_browser(db_session, request.user.id, browser_id):
            await audit(db_session, request, "auth.mfa.browser_untrusted", user_id=request.user.id)
            flash(request, "That browser will be asked for a code next time.", "success")
        return see_other(request, "/settings/security")

    @post("/security/trusted/revoke-all", name="settings_trusted_revoke_all")
    async def revoke_all_trusted(
        self, request: Request[Any, Any, Any], db_session: DBSession
    ) -> Response[Any]:
        """Stop trusting every browser, this one included."""
        count = await forget_trusted_browsers(db_session, request.user.id)
        await audit(db_session, request, "auth.mfa.browsers_untrusted", user_id=request.user.id, count=count)
        flash(request, "No browser skips two-step verification any more.", "success")
        return see_other(request, "/settings/security")


class TwoFactorSettingsController(Controller):
    """`/settings/two-factor`: the authenticator app and backup codes (FEATURE_TOTP).

    Its own controller so that switching TOTP off removes exactly these routes; the second step of
    signing in (`TwoFactorController`) stays, so an account that already has a factor keeps it.
    """

    path = "/settings"
    guards = [requires_user, refuses_impersonation]
    include_in_schema = False

    @get("/two-factor", name="settings_two_factor")
    async def two_factor(self, request: Request[Any, Any, Any], db_session: DBSession) -> Template:
        """Whether the authenticator app is on, and the way to turn it on or off."""
        return render(
            request,
            "settings/two_factor.html",
            section="two_factor",
            factors=await factors_of(db_session, request.user.id),
            error=None,
            headers=NO_STORE,
        )

    @post("/two-factor/setup", name="settings_two_factor_setup", guards=[requires_sudo])
    async def setup(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """Make a new secret, then show it (on the page below, so a reload does not post again)."""
        if (await factors_of(db_session, request.user.id)).totp:
            flash(request, "Two-step verification is already on.", "info")
            return see_other(request, "/settings/two-factor")
        await start_totp_enrolment(db_session, request)
        return see_other(request, "/settings/two-factor/setup")

    @get("/two-factor/setup", name="settings_two_factor_setup_page", guards=[requires_sudo])
    async def setup_page(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """The secret being enrolled, as a QR code and as text, and the box for the first code."""
        return await self._setup_page(request, db_session)

    @post(
        "/two-factor/setup/confirm",
        name="settings_two_factor_confirm",
        guards=[requires_sudo, limit_posts_per_ip],
    )
    async def confirm(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Activate the app with its first code; then show the backup codes, once."""
        codes = await finish_totp_enrolment(db_session, request, data.get("code", ""))
        if codes is None:
            return await self._setup_page(
                request,
                db_session,
                error="That code is not right. Check the time on your phone and try the newest code.",
            )
        flash(request, "Two-step verification is on. Other browsers were signed out.", "success")
        return self._codes_page(request, codes, fresh_setup=True)

    @post(
        "/two-factor/disable", name="settings_two_factor_disable", guards=[requires_sudo, limit_posts_per_ip]
    )
    async def disable(
        self, request: Request[Any, Any, Any], db_session: DBSession, data: FormData
    ) -> Response[Any]:
        """Turn the app off: needs a current code even inside the sudo window [53]."""
        problem = await disable_totp(db_session, request, data.get("code", ""))
        if problem is not None:
            status = 429 if problem.kind == "locked" else 422
            return render(
                request,
                "settings/two_factor.html",
                section="two_factor",
                factors=await factors_of(db_session, request.user.id),
                error=problem_text(problem),
                status=status,
                headers=NO_STORE,
            )
        flash(request, "Two-step verification with an authenticator app is off.", "success")
        return see_other(request, "/settings/two-factor")

    @post("/two-factor/backup-codes", name="settings_backup_codes", guards=[requires_sudo])
    async def new_backup_codes(self, request: Request[Any, Any, Any], db_session: DBSession) -> Response[Any]:
        """A new set of backup codes, shown once; the old set stops working."""
        try:
            codes = await regenerate_backup_codes(db_session, request)
        except NoSecondFactorError:
            flash(request, "Set up two-step verification first.", "warning")
            return see_other(request, "/settings/two-factor")
        return self._codes_page(request, codes, fresh_setup=False)

    async def _setup_page(
        self, request: Request[Any, Any, Any], db: DBSession, error: str | None = None
    ) -> Response[Any]:
        security = security_of(request)
        enrolment = await totp.pending_enrolment(db, security, request.user.id, request.user.email)
        if enrolment is None:
            return see_other(request, "/settings/two-factor")
        return render(
            request,
            "settings/two_factor_setup.html",
            section="two_factor",
            enrolment=enrolment,
            grouped=totp.grouped_secret(enrolment.secret),
            error=error,
            status=422 if error else 200,
            headers=SECRET_PAGE_HEADERS,
        )

    def _codes_page(
        self, request: Request[Any, Any, Any], codes: list[str], *, fresh_setup: bool
    ) -> Template:
        return render(
            request,
            "settings/backup_codes.html",
            section="two_factor",
            codes=codes,
            fresh_setup=fresh_setup,
            download="\n".join([f"{request.app.state.settings.app_name} backup codes", "", *codes, ""]),
            headers=SECRET_PAGE_HEADERS,
        )
