"""Form parsing for the site pages: plain dataclasses that say what is wrong in words."""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_MESSAGE_MAX = 200


@dataclass
class DemoForm:
    """The home page's demo form: one short message."""

    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> DemoForm:
        """A blank form."""
        return cls()

    @classmethod
    def parse(cls, data: dict[str, str]) -> DemoForm:
        """Read and validate submitted fields."""
        message = data.get("message", "").strip()
        errors = {}
        if not message:
            errors["message"] = "Type a message first."
        elif len(message) > DEMO_MESSAGE_MAX:
            errors["message"] = f"Keep it under {DEMO_MESSAGE_MAX} characters (this one has {len(message)})."
        return cls(message=message, errors=errors)
