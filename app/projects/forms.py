"""What a project form may set: a name and a summary, nothing else [70].

The organization, the creator, the archive state and the timestamps are never read from the
form: `parse` looks at two keys and ignores the rest, so `org_id=...` in a posted body changes
nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.projects.models import NAME_MAX, SUMMARY_MAX

if TYPE_CHECKING:
    from app.projects.models import Project

__all__ = ("ProjectForm",)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def _has_hidden_characters(text: str, *, allow_line_breaks: bool) -> bool:
    """Control or format characters (e.g. U+202E, which reverses the text after it) [94]."""
    allowed = {"\n", "\r"} if allow_line_breaks else set()
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


@dataclass
class ProjectForm:
    """The fields of a new or edited project, as typed, with what is wrong in words."""

    name: str = ""
    summary: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, project: Project) -> ProjectForm:
        """The form filled in with a project's current values."""
        return cls(name=project.name, summary=project.summary)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ProjectForm:
        """Read `name` and `summary` only; say what is wrong with them."""
        form = cls(
            name=" ".join(_text(data, "name").split()),
            summary=_text(data, "summary").strip().replace("\r\n", "\n"),
        )
        if not form.name:
            form.errors["name"] = "Give the project a name."
        elif len(form.name) > NAME_MAX:
            form.errors["name"] = (
                f"Keep the name under {NAME_MAX} characters (this one has {len(form.name)})."
            )
        elif _has_hidden_characters(form.name, allow_line_breaks=False):
            form.errors["name"] = "Use letters, numbers and punctuation only."
        if len(form.summary) > SUMMARY_MAX:
            form.errors["summary"] = (
                f"Keep the summary under {SUMMARY_MAX} characters ({len(form.summary)} now)."
            )
        elif _has_hidden_characters(form.summary, allow_line_breaks=True):
            form.errors["summary"] = "Use letters, numbers, punctuation and line breaks only."
        return form
