"""Forms of the organization pages: each takes only the fields it declares (requirement 70).

`role`, `org_id` or `owner_id` never come from a form body: the organization is the one in the
URL (the guard's `OrgContext`), and a role is chosen by id among the roles that organization has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from app.auth.core.identity import InvalidEmail, canonical_email, normalize_email
from app.auth.core.orgs import InvalidSlugError, normalize_slug, slug_from_name

NAME_MAX = 100
EMAIL_MAX = 320


def text(data: Mapping[str, Any], name: str) -> str:
    """A posted text field ("" when missing or not text)."""
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def uuid_or_none(value: str) -> UUID | None:
    """A posted id, or None when it is not one."""
    try:
        return UUID(value)
    except ValueError:
        return None


@dataclass
class NewOrgForm:
    """Name and address of a new organization."""

    name: str = ""
    slug: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> NewOrgForm:
        """Read and check the fields; an empty address is made from the name."""
        name = " ".join(text(data, "name").split())[:NAME_MAX]
        typed_slug = text(data, "slug").strip()[:60]
        form = cls(name=name, slug=typed_slug or (slug_from_name(name) if name else ""))
        if not name:
            form.errors["name"] = "Give the organization a name."
        if form.slug:
            try:
                form.slug = normalize_slug(form.slug)
            except InvalidSlugError as exc:
                form.errors["slug"] = str(exc)
        elif name:
            form.errors["slug"] = "Choose an address."
        return form


@dataclass
class InviteForm:
    """Whom to invite, and with which of the organization's roles."""

    email: str = ""
    role_id: UUID | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InviteForm:
        """Read and check the fields (whether the role may be granted is the core's call)."""
        form = cls(email=text(data, "email").strip()[:EMAIL_MAX], role_id=uuid_or_none(text(data, "role_id")))
        try:
            form.email = normalize_email(form.email)
            canonical_email(form.email)
        except InvalidEmail as exc:
            form.errors["email"] = str(exc) or "Enter a valid email address."
        if form.role_id is None:
            form.errors["role_id"] = "Choose a role."
        return form
