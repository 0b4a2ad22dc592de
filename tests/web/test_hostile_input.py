"""Hostile values an outside scanner sent, each of which once answered 500: now a plain 4xx or success."""

from __future__ import annotations

import pytest

from app.auth.core.web_security import is_well_formed_host
from app.web.flash import _MAX_COOKIE_BYTES, Flash, _read_cookie, _write_cookie
from tests.support.web import BASE_URL, WebClient

HOSTILE_SUFFIX = "¿'\"("
SAME_ORIGIN = {"origin": BASE_URL, "sec-fetch-site": "same-origin"}


async def test_a_csrf_token_with_non_ascii_characters_is_refused_like_any_wrong_token(web: WebClient) -> None:
    await web.get("/login")
    assert web.csrf_token is not None
    response = await web.request(
        "POST",
        "/demo",
        data={"_csrf_token": web.csrf_token + HOSTILE_SUFFIX, "message": "hello"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 403


async def test_a_csrf_header_with_non_ascii_characters_is_refused(web: WebClient) -> None:
    await web.get("/")
    response = await web.client.post(
        "/demo",
        data={"message": "hello"},
        headers={**SAME_ORIGIN, "x-csrftoken": f"{web.csrf_token}{HOSTILE_SUFFIX}".encode("latin-1")},
        follow_redirects=False,
    )
    assert response.status_code == 403


async def test_a_csrf_cookie_with_non_ascii_characters_is_refused(web: WebClient) -> None:
    await web.get("/")
    response = await web.client.post(
        "/demo",
        data={"_csrf_token": web.csrf_token, "message": "hello"},
        headers={**SAME_ORIGIN, "cookie": "csrftoken=x¿".encode("latin-1")},
        follow_redirects=False,
    )
    assert response.status_code == 403


async def test_the_right_token_still_works(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "hello"})
    assert response.status_code == 303


async def test_a_flash_message_longer_than_a_cookie_is_shortened_not_a_crash(web: WebClient) -> None:
    response = await web.submit("/demo", {"message": "🦀" * 200})
    assert response.status_code in {303, 422}
    assert "traceback" not in response.text.lower()


@pytest.mark.parametrize("length", [10, 2_000, 20_000])
def test_the_flash_cookie_always_fits_and_keeps_the_newest_message(length: int) -> None:
    secret = b"k" * 32
    messages = [Flash("older", "info"), Flash("🦀" * length, "success")]
    value = _write_cookie(messages, secret)
    assert len(value) <= _MAX_COOKIE_BYTES
    *_, kept = _read_cookie(value, secret)
    assert kept.level == "success"
    assert kept.text.startswith("🦀")


@pytest.mark.parametrize("host", [b"testserver.local:abc", b"[::1", b"testserver.local:99999", b"a b"])
async def test_a_host_header_that_is_not_host_and_port_is_a_plain_400(web: WebClient, host: bytes) -> None:
    # Litestar builds request.url from Host and raised ValueError on such a port: a 500 before.
    response = await web.client.get("/login", headers={"host": host})
    assert response.status_code == 400


@pytest.mark.parametrize("host", [b"testserver.local", b"testserver.local:80", b"[::1]:8000", b"127.0.0.1"])
def test_well_formed_host_headers_pass(host: bytes) -> None:
    assert is_well_formed_host(host)


@pytest.mark.parametrize(
    "path",
    [
        "/static/css/app.css%00",  # stat() refuses a NUL byte with ValueError
        "/static/css/" + "x" * 300,  # longer than a file name may be (ENAMETOOLONG)
        "/static/css/app.css/more",  # a file used as a directory (ENOTDIR)
    ],
)
async def test_a_static_path_no_file_can_have_is_not_found(web: WebClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 404
    assert (await web.get("/static/css/app.css")).status_code == 200


@pytest.mark.parametrize(
    "page",
    [
        "/confirm-email",
        pytest.param("/login/email/link", marks=pytest.mark.needs_features("magic_link")),
        "/reset-password",
        "/settings/email/confirm",
    ],
)
async def test_a_mailed_link_with_a_token_no_cookie_can_carry_is_an_invalid_link(
    web: WebClient, page: str
) -> None:
    # The token went into the link cookie as it was, and "€" cannot be sent in a header: 500.
    # A long marker: a short one ("abc") turns up by chance inside random cookie values.
    response = await web.get(f"{page}?token=notarealmailedtoken%E2%82%AC", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == page
    assert "notarealmailedtoken" not in response.headers.get("set-cookie", "")


async def test_a_nul_byte_that_reaches_the_database_is_a_plain_400(web: WebClient) -> None:
    # PostgreSQL refuses NUL in text; the mailbox's address filter passed it on: a 500.
    response = await web.get("/dev/mailbox?to=ada%40example.com%00")
    assert response.status_code == 400
    assert (await web.get("/dev/mailbox?to=ada%40example.com")).status_code == 200
