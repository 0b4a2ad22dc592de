"""With identity providers configured, connecting or disconnecting one is refused while impersonating."""

from __future__ import annotations

from tests.admin.conftest import Admin
from tests.admin.test_impersonation import start
from tests.auth.oauth_fixtures import *  # noqa: F403 (the providers and the app using them)
from tests.support.accounts import Accounts


async def test_the_connected_accounts_page_and_its_actions_are_refused(
    admin: Admin, accounts: Accounts
) -> None:
    target = await accounts.create("ada@example.com")
    await start(admin, target)
    assert (await admin.web.get("/settings/connected-accounts", follow_redirects=False)).status_code == 403
    await admin.web.get("/")
    for path in (
        "/settings/connected-accounts/alpha/connect",
        "/settings/connected-accounts/00000000-0000-0000-0000-000000000000/disconnect",
    ):
        assert (await admin.web.submit(path)).status_code == 403, path
