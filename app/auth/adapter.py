"""Gatehouse's product decisions inside the core's flows: the one place a fork customises them.

Every method of `AccountAdapter` (see `app.auth.core.adapter`) is a decision with a documented
default; override the ones your product makes differently. For example, to let only your
company's addresses register:

    class GatehouseAdapter(AccountAdapter):
        def is_open_for_signup(self, request, email):
            return email.lower().endswith("@example.com")

Renamed a page? Change its path in `PAGES` too, so mailed links follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from app.auth.core.adapter import AccountAdapter
from app.auth.devices import device_label
from app.features import enabled
from app.formatting import human_duration
from app.mail import Mail, send_mail
from app.web.landing import LANDING_PATH

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.models import UserSecurityColumns

__all__ = ("GatehouseAdapter",)


class GatehouseAdapter(AccountAdapter):
    """Mail through the job queue, readable device names, a personal workspace for every new account,
    and sign-in landing in an organization; every other decision as the core's default."""

    PAGES: ClassVar[Mapping[str, str]] = {**AccountAdapter.PAGES, "after_login": LANDING_PATH}

    async def account_confirmed(
        self, db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns
    ) -> None:
        """A personal workspace, unless the `personal_workspace` setting or FEATURE_ORGS is off."""
        # --- feature: orgs
        settings = request.app.state.settings
        if enabled(settings, "orgs") and settings.personal_workspace:
            from app.orgs.services import create_personal_workspace

            await create_personal_workspace(db, user)
        # --- end feature: orgs

    def device_label(self, user_agent: str) -> str:
        """ "Firefox on Windows", from the User-Agent (ua-parser)."""
        return device_label(user_agent)

    def mail_on_impersonation(self, request: Request[Any, Any, Any], user: Any) -> bool:
        """Mail the user when support signs in as them if IMPERSONATION_NOTIFY_USER is on."""
        return bool(request.app.state.settings.impersonation_notify_user)

    async def export_sections(self, db: AsyncSession, user: UserSecurityColumns) -> Mapping[str, Any]:
        """The display name, and the projects the person created (see docs/account-lifecycle.md)."""
        sections: dict[str, Any] = {"display_name": getattr(user, "display_name", "")}
        # --- feature: orgs
        from app.projects.export import projects_created_by

        sections["projects_created"] = await projects_created_by(db, user.id)
        # --- end feature: orgs
        return sections

    def send_mail(self, db: AsyncSession, *, to: str, template: str, context: Mapping[str, Any]) -> None:
        """Queue the mail in the request's outbox; durations read as "10 minutes", "24 hours"."""
        readable = {
            key: human_duration(value) if isinstance(value, timedelta) else value
            for key, value in context.items()
        }
        send_mail(db, Mail(to=to, template=template, context=readable))
