"""The vendored Lucide icons: the folder matches its manifest, and templates draw them inline."""

from __future__ import annotations

import pytest

from app.web.icons import icon
from scripts import vendor_icons
from tests.support.accounts import Accounts
from tests.support.web import WebClient


def test_the_vendored_icons_match_their_manifest() -> None:
    assert vendor_icons.check() == 0


def test_an_icon_is_decorative_inline_svg_drawn_in_the_text_colour() -> None:
    svg = str(icon("users"))
    assert svg.startswith('<svg class="icon icon-users"')
    assert 'aria-hidden="true"' in svg
    assert 'stroke="currentColor"' in svg
    assert "<!--" not in svg


def test_an_unknown_icon_fails_loudly() -> None:
    with pytest.raises(LookupError, match="vendor_icons.py add"):
        icon("no-such-icon")


async def test_the_signed_in_shell_draws_its_icons(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    await accounts.login(web)
    page = await web.get("/orgs")
    assert 'class="icon icon-log-out"' in page.text
    assert 'class="icon icon-building-2"' in page.text
