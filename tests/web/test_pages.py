"""Pages render as full documents with the layout, and every response carries the security headers."""

from __future__ import annotations

import re

from tests.support.web import WebClient

NONCE = re.compile(r"'nonce-([A-Za-z0-9_\-]+)'")


async def test_home_page_says_what_gatehouse_is(web: WebClient) -> None:
    response = await web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Ship the product, not the login page.</h1>" in response.text
    assert 'id="flash"' in response.text
    assert '<a class="skip-link" href="#main">' in response.text


async def test_every_html_response_has_the_security_headers(web: WebClient) -> None:
    for path in ("/", "/no-such-page"):
        headers = (await web.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["cross-origin-opener-policy"] == "same-origin"
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp


async def test_csp_nonce_is_fresh_per_response_and_matches_every_script(web: WebClient) -> None:
    first, second = await web.get("/"), await web.get("/")
    nonce_one = NONCE.search(first.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
    nonce_two = NONCE.search(second.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
    assert nonce_one != nonce_two
    scripts = re.findall(r"<script[^>]*>", first.text)
    assert scripts, "the layout loads htmx and app.js"
    assert all(f'nonce="{nonce_one}"' in tag for tag in scripts)
    assert "<script>" not in first.text, "no inline scripts without a nonce"
    assert " style=" not in first.text, "no style attributes (the CSP would block them)"


async def test_no_hsts_outside_production(web: WebClient) -> None:
    assert "strict-transport-security" not in (await web.get("/")).headers


async def test_static_files_are_served_with_long_cache_lifetime(web: WebClient) -> None:
    page = await web.get("/")
    css_url = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{10})"', page.text).group(1)  # type: ignore[union-attr]
    response = await web.get(css_url)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.text.startswith("/* Gatehouse stylesheet")


async def test_unknown_host_header_is_refused(web: WebClient) -> None:
    response = await web.get("/", headers={"host": "evil.example"})
    assert response.status_code == 400
