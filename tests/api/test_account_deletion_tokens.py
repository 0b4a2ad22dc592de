"""A deleted account's API tokens stop working at once (requirement 23, the API's half)."""

from __future__ import annotations

from tests.api.support import bearer, create_token
from tests.auth.test_account_deletion import delete_account
from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def test_deleting_the_account_refuses_its_api_token_on_the_next_call(
    accounts: Accounts, web: WebClient
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(web, "ada@example.com")
    token = await create_token(web, scopes=("account:read",))
    api = web.other_browser()
    assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 200

    assert await delete_account(web) == 303

    assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 401
