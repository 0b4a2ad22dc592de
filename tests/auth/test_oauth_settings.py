"""Without a configured identity provider there is nothing to see: no buttons, and every OAuth
route answers 404 (the providers' own tests are in `test_oauth.py`)."""

from __future__ import annotations

from tests.support.accounts import Accounts
from tests.support.web import WebClient


async def test_without_providers_there_are_no_buttons_and_the_routes_answer_404(
    web: WebClient, accounts: Accounts
) -> None:
    for page in ("/login", "/register"):
        assert "oauth-buttons" not in (await web.get(page)).text
    assert (await web.get("/auth/oauth/google/callback?code=x&state=y")).status_code == 404
    assert (await web.get("/login/oauth/account-exists?provider=google")).status_code == 404
    assert (await web.submit("/auth/oauth/google/start")).status_code == 404
    await accounts.create()
    await accounts.login(web)
    assert "Connected accounts" not in (await web.get("/settings/profile")).text
    assert (await web.get("/settings/connected-accounts", follow_redirects=False)).status_code == 404
    assert (await web.get("/sudo/provider", follow_redirects=False)).status_code == 404
