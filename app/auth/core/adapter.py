"""The adapter: every product decision the core leaves to the host, one overridable method each.

The core owns the flows (who may sign in, which token works, what a session is); a product still
has choices to make inside them: who may register, where a signed-in user lands, how mail leaves,
what the pages are called. The host subclasses `AccountAdapter` in `app/auth/adapter.py`,
overrides what it wants, and passes an instance to the core at startup. A fork customises here
and in its routes and templates, never by editing the core, so core releases keep applying.

    class ProductAdapter(AccountAdapter):
        def is_open_for_signup(self, request, email):
            return email.endswith("@example.com")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth.core.models import UserSecurityColumns

__all__ = ("AccountAdapter",)


class AccountAdapter:
    """The defaults: open registration, the core's page paths, mail not wired."""

    PAGES: ClassVar[Mapping[str, str]] = {
        "login": "/login",
        "after_login": "/settings",
        "forgot_password": "/forgot-password",
        "reset_password": "/reset-password",
        "confirm_email": "/confirm-email",
        "magic_link": "/login/email/link",
        "confirm_email_change": "/settings/email/confirm",
        "sessions": "/settings/sessions",
        "security": "/settings/security",
        "two_factor": "/login/two-factor",
        "sudo": "/sudo",
        "restore_account": "/login/restore",
        "cancel_deletion": "/account/deletion/cancel",
        "data_export": "/settings/account/export/download",
    }
    """The pages mailed links and redirects point at, by name. A fork that renames a route changes it here."""

    KEPT_AT_SIGN_OUT: ClassVar[frozenset[str]] = frozenset()
    """Cookies signing out leaves in place (names without the `__Host-` prefix): preferences only,
    such as a colour theme; never anything that identifies or authenticates. Every other cookie
    the browser sends is expired at sign-out."""

    def page_path(self, page: str) -> str:
        """The path of a named page (see `PAGES`)."""
        return self.PAGES[page]

    def is_open_for_signup(self, request: Request[Any, Any, Any], email: str) -> bool:
        """Whether this address may hold an account (an invite-only product says no here).

        Asked at registration and when a signed-in user moves their account to a new address,
        before anything is stored. A refusal is shown to the person, so it must not depend on
        whether the address has an account.
        """
        return True

    def populate_user(
        self, request: Request[Any, Any, Any], user: UserSecurityColumns, extra: Mapping[str, str]
    ) -> None:
        """Fill the host's own columns of a new account from extra registration fields."""

    async def account_confirmed(
        self, db: AsyncSession, request: Request[Any, Any, Any], user: UserSecurityColumns
    ) -> None:
        """A new account's address has just been proven (registration link or code, or an identity
        provider vouching for a new or unconfirmed account); runs once per account, in the same
        transaction. A product that gives every account something to start with (a personal
        workspace) makes it here."""

    def login_redirect_url(self, request: Request[Any, Any, Any], user: UserSecurityColumns) -> str:
        """Where a user goes after signing in when the sign-in named no (safe) destination."""
        return self.page_path("after_login")

    def mail_on_impersonation(self, request: Request[Any, Any, Any], user: UserSecurityColumns) -> bool:
        """Whether to mail `user` when support signs in as them (`support_access`). Off by default:
        the visit is always listed on their security page and in the audit log."""
        return False

    def device_label(self, user_agent: str) -> str:
        """A short, readable name for the browser behind `user_agent` ("Firefox on Windows")."""
        return user_agent[:120] or "Unknown device"

    async def export_sections(self, db: AsyncSession, user: UserSecurityColumns) -> Mapping[str, Any]:
        """The host's own sections of a user's data export (`data_export`), as plain JSON values.

        The core writes what it keeps (profile, sign-in methods, sessions, security events,
        memberships); add what the product keeps about the person, keyed by section name.
        """
        return {}

    def send_mail(self, db: AsyncSession, *, to: str, template: str, context: Mapping[str, Any]) -> None:
        """Queue a mail (in `db`'s transaction, so it leaves only if the change commits).

        `template` names the message (`confirm_email`, `password_changed`, ...); `context` holds
        its values, durations as `timedelta`. The core never sends mail itself.
        """
        raise NotImplementedError("the host's adapter must say how mail is sent")
