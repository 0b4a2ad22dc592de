"""Every mail template has a preview, renders without errors, and the preview pages work."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from app.features import mail_enabled
from app.mail.previews import SAMPLES
from app.mail.render import MailRenderer
from app.settings import Settings
from tests.support.web import WebClient

EMAILS = Path(__file__).resolve().parents[2] / "templates" / "emails"
TEMPLATES = sorted(p.stem for p in EMAILS.glob("*.txt") if not p.stem.startswith("_"))


def test_every_template_has_a_sample_and_both_parts() -> None:
    assert sorted(SAMPLES) == TEMPLATES
    for name in TEMPLATES:
        assert (EMAILS / f"{name}.html").exists(), f"{name}.html is missing"


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_with_a_subject_a_reason_and_what_to_do(settings: Settings, name: str) -> None:
    subject, text, html = MailRenderer(settings).render_parts(name, SAMPLES[name])
    assert subject
    assert "\n" not in subject
    assert "You received this because" in text
    assert "You received this because" in html
    assert "<style>" not in html, "CSS is inlined"


async def test_the_preview_pages_show_every_template(web: WebClient, settings: Settings) -> None:
    index = await web.get("/dev/mail-previews")
    assert index.status_code == 200
    for name in filter(partial(mail_enabled, settings), TEMPLATES):  # a switched-off feature's are left out
        assert f'href="/dev/mail-previews/{name}"' in index.text
    page = await web.get("/dev/mail-previews/reset_password")
    assert "Reset your Gatehouse password" in page.text
    html = await web.get("/dev/mail-previews/reset_password/html")
    assert "sandbox" in html.headers["content-security-policy"]
    assert (await web.get("/dev/mail-previews/nope")).status_code == 404
