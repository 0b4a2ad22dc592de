"""Rendering mail: subject from the text template, both parts, inlined CSS, escaping, safe headers."""

from __future__ import annotations

import pytest

from app.mail.message import Mail
from app.mail.render import MailRenderer, parse_address
from app.settings import Settings


@pytest.fixture
def renderer(settings: Settings) -> MailRenderer:
    return MailRenderer(settings)


def test_message_has_subject_text_and_html_parts(renderer: MailRenderer) -> None:
    message = renderer.build(Mail(to="Ada <ada@example.com>", template="test_message"))
    assert message["Subject"] == "Gatehouse test message"
    assert message["To"] == "Ada <ada@example.com>"
    assert message["From"] == "Gatehouse <no-reply@localhost>"
    assert message["Message-ID"].endswith("@testserver.local>")
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Mail delivery works." in text.get_content()
    assert "<h1" in html.get_content()


def test_css_is_inlined_for_mail_clients(renderer: MailRenderer) -> None:
    _, _, html = renderer.render_parts("test_message", {})
    assert "<style>" not in html
    assert 'class="button"' in html
    assert 'style="display: inline-block' in html


def test_html_part_escapes_context_values(renderer: MailRenderer, tmp_path: object) -> None:
    env = renderer.env
    template = env.from_string("<p>{{ name }}</p>")  # a test-only template, never user input
    assert template.render(name="<img src=x onerror=alert(1)>") == "<p>&lt;img src=x onerror=alert(1)&gt;</p>"


def test_text_part_is_not_html_escaped(renderer: MailRenderer) -> None:
    subject, text, _ = renderer.render_parts("test_message", {})
    assert "&#39;" not in text
    assert "&amp;" not in subject


@pytest.mark.parametrize(
    "address",
    ["victim@example.com\r\nBcc: attacker@evil.example", "victim@example.com\nBcc: x@evil", "a@b\x00c"],
)
def test_line_breaks_in_addresses_cannot_add_headers(renderer: MailRenderer, address: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)linefeed|carriage|control"):
        renderer.build(Mail(to=address, template="test_message"))
    with pytest.raises(ValueError, match="control characters"):
        parse_address(address)


def test_parse_address_accepts_a_display_name() -> None:
    address = parse_address("Ada Lovelace <ada@example.com>")
    assert address.addr_spec == "ada@example.com"
    assert address.display_name == "Ada Lovelace"


@pytest.mark.parametrize("address", ["g:;x@y.example", "g:;", "x@y.example, z@w.example"])
def test_a_group_or_a_list_is_not_one_mailbox(address: str) -> None:
    with pytest.raises(ValueError, match=r"single mailbox|exactly one address"):
        parse_address(address)
