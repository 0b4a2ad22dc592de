"""The vendored Lucide icons: the folder matches its manifest, and the shell draws them inline."""

from __future__ import annotations

import re

import pytest
from jinja2 import TemplateNotFound
from litestar import Litestar

from scripts import vendor_icons
from tests.support.accounts import Accounts
from tests.support.web import WebClient


def test_the_vendored_icons_match_their_manifest() -> None:
    assert vendor_icons.check() == 0


async def test_the_signed_in_shell_draws_decorative_inline_icons(accounts: Accounts, web: WebClient) -> None:
    await accounts.create()
    await accounts.login(web)
    page = await web.get("/settings/profile")
    for name in ("log-out", "shield-check", "settings"):
        drawn = re.search(
            rf'<span class="icon icon-{name}" aria-hidden="true">\s*(?:<!--.*?-->\s*)?<svg', page.text, re.S
        )
        assert drawn, name
    assert 'stroke="currentColor"' in page.text


def test_an_unknown_icon_fails_loudly(app: Litestar) -> None:
    engine = app.template_engine
    assert engine is not None
    template = engine.engine.from_string(
        '{% from "partials/_icon.html" import icon %}{{ icon("no-such-icon") }}'
    )
    with pytest.raises(TemplateNotFound, match="no-such-icon"):
        template.render()
