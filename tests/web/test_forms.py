"""The demo form: CSRF-protected, validated, answered as a fragment (htmx) or a redirect + flash."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.web import WebClient


async def test_post_without_csrf_token_is_refused(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/")
    response = await client.post("/demo", data={"message": "hello"})
    assert response.status_code == 403


async def test_post_with_a_token_from_another_browser_is_refused(app: Litestar, web: WebClient) -> None:
    await web.get("/")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as other:
        await other.get("/")
        response = await other.post("/demo", data={"message": "hi", "_csrf_token": web.csrf_token})
    assert response.status_code == 403


async def test_cross_site_post_is_refused_even_with_a_valid_token(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "hi"}, headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403


async def test_foreign_origin_without_fetch_metadata_is_refused(web: WebClient) -> None:
    await web.get("/")
    response = await web.client.post(
        "/demo",
        data={"message": "hi", "_csrf_token": web.csrf_token},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_htmx_can_send_the_token_in_a_header(web: WebClient) -> None:
    await web.get("/")
    response = await web.client.post(
        "/demo",
        data={"message": "from a header"},
        headers={"x-csrftoken": web.csrf_token or "", "hx-request": "true"},
    )
    assert response.status_code == 200


async def test_valid_post_without_javascript_redirects_and_flashes(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "Hello <b>there</b>"})
    assert response.status_code == 303
    assert response.headers["location"] == "/#demo"
    page = await web.get("/")
    assert "Message received: Hello &lt;b&gt;there&lt;/b&gt;" in page.text
    again = await web.get("/")
    assert "Message received" not in again.text, "a flash message is shown once"


async def test_valid_post_with_htmx_returns_the_fragment_and_the_flash(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "hi there"}, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="demo-form"')
    assert "<html" not in response.text
    assert '<hx-partial hx-target="#flash"' in response.text
    assert "Message received: hi there" in response.text
    assert response.headers["vary"] == "HX-Request"


async def test_invalid_post_shows_the_reason_next_to_the_field(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "   "})
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Type a message first." in response.text
    assert 'aria-invalid="true"' in response.text
    assert "<html" in response.text, "without htmx the whole page comes back"

    fragment = await web.submit("/demo", {"message": "x" * 201}, htmx=True)
    assert fragment.status_code == 422
    assert fragment.headers["content-type"] == "text/html; charset=utf-8"
    assert "Keep it under 200 characters (this one has 201)." in fragment.text
    assert "<html" not in fragment.text


async def test_theme_choice_is_remembered_and_rendered_on_the_first_paint(web: WebClient) -> None:
    response = await web.submit("/theme", {"theme": "dark", "next": "/#demo"})
    assert response.status_code == 303
    assert response.headers["location"] == "/#demo"
    page = await web.get("/")
    assert '<html lang="en" data-theme="dark">' in page.text


async def test_theme_switch_refuses_foreign_redirects_and_unknown_themes(web: WebClient) -> None:
    response = await web.submit("/theme", {"theme": "neon", "next": "//evil.example/"})
    assert response.headers["location"] == "/"
    page = await web.get("/")
    assert 'data-theme="system"' in page.text
