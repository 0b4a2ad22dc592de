"""Turn a `Mail` into a multipart message: Jinja HTML (CSS inlined) plus a plain-text part.

Each mail is a pair of templates in `templates/emails/`: `<name>.html` and `<name>.txt`. The text
template also holds the subject, in `{% block subject %}`. HTML is autoescaped like every page; the
text part is not HTML, so it is not escaped, and headers are built with `email.message.EmailMessage`
whose default policy refuses line breaks in header values (no header injection, requirement 94).
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    from app.mail.message import Mail
    from app.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class MailRenderer:
    """Renders mail templates with the app's name and base URL always in the context."""

    def __init__(self, settings: Settings, directory: Path = TEMPLATES) -> None:
        self.settings = settings
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=True, default=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
        self.domain = urlsplit(settings.base_url).hostname or "localhost"

    def context(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The template context: app-wide values plus the mail's own."""
        return {"app_name": self.settings.app_name, "base_url": self.settings.base_url, **extra}

    def render_parts(self, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, text, html) of `template` rendered with `context`."""
        full = self.context(context)
        text_template = self.env.get_template(f"emails/{template}.txt")
        text_context = text_template.new_context(full)
        subject = "".join(text_template.blocks["subject"](text_context)).strip()
        text = text_template.render(full).strip() + "\n"
        html = self.inliner.inline(self.env.get_template(f"emails/{template}.html").render(full))
        return " ".join(subject.split()), text, html

    def build(self, mail: Mail) -> EmailMessage:
        """The message ready for delivery."""
        subject, text, html = self.render_parts(mail.template, mail.context)
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = parse_address(mail.to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = f"<{mail.message_id}@{self.domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message


def parse_address(value: str) -> Address:
    """Parse one mailbox (`Name <a@b>` or `a@b`), refusing control characters."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("mail addresses may not contain control characters")
    message = EmailMessage()
    try:
        message["To"] = value
        addresses: tuple[Address, ...] = message["To"].addresses
    except (AttributeError, IndexError, TypeError) as exc:  # the parser trips on some groups (`g:;x@y`)
        raise ValueError("not a single mailbox") from exc
    if len(addresses) != 1:
        raise ValueError("expected exactly one address")
    return addresses[0]
