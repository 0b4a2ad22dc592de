"""What the API reads and writes, as msgspec structs (the OpenAPI schema is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar
from uuid import UUID

import msgspec

from app.projects.models import NAME_MAX, SUMMARY_MAX

__all__ = (
    "InvitationIn",
    "InvitationOut",
    "Me",
    "Member",
    "Org",
    "Page",
    "ProjectIn",
    "ProjectOut",
    "ProjectPatch",
    "RefreshRequest",
    "Session",
    "TokenPair",
    "TokenRequest",
)

T = TypeVar("T")


class Me(msgspec.Struct):
    """The user a personal token acts as."""

    id: UUID
    email: str
    display_name: str
    token_id: str
    """The public id of the token making this call."""
    scopes: list[str]


class Session(msgspec.Struct):
    """A browser signed in to the account."""

    id: UUID
    kind: str
    device: str
    ip_address: str
    created_at: datetime
    last_seen_at: datetime


class Org(msgspec.Struct):
    """An organization the token can reach, and what it may do there."""

    slug: str
    name: str
    personal: bool
    permissions: list[str]


class Member(msgspec.Struct):
    """A member of an organization and their role."""

    id: UUID
    user_id: UUID
    email: str
    display_name: str
    role: str
    joined_at: datetime


class InvitationOut(msgspec.Struct):
    """A pending invitation (the link's token is never shown: it was mailed, and only its hash is kept)."""

    id: UUID
    email: str
    role: str
    """The role's key (`member`, `admin`, ...), as `Member.role`."""
    role_name: str
    invited_by: UUID | None
    created_at: datetime
    expires_at: datetime


class InvitationIn(msgspec.Struct):
    """Invite an address with a role (by its key); a pending invitation to it is replaced."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "member"


class ProjectOut(msgspec.Struct):
    """A project."""

    id: UUID
    name: str
    summary: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None


class ProjectIn(msgspec.Struct):
    """A new project: a name and an optional summary."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX * 4)]
    summary: Annotated[str, msgspec.Meta(max_length=SUMMARY_MAX * 4)] = ""


class ProjectPatch(msgspec.Struct):
    """Changes to a project; fields left out stay as they are."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX * 4)] | None = None
    summary: Annotated[str, msgspec.Meta(max_length=SUMMARY_MAX * 4)] | None = None
    archived: bool | None = None


class Page(msgspec.Struct, Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next (null: this is the last)."""

    items: list[T]
    next_cursor: str | None


Status = Literal["active", "archived", "all"]


class TokenRequest(msgspec.Struct):
    """What to exchange for JWTs: a personal token, or an address and password (and its code)."""

    api_token: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    """A personal access token (`gth_...`); the JWTs get its scopes and die with it."""
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    password: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    code: Annotated[str, msgspec.Meta(max_length=32)] = ""
    """The authenticator code, or a backup code, when the account has two-step verification."""


class RefreshRequest(msgspec.Struct):
    """A refresh token (`gthr_...`)."""

    refresh_token: Annotated[str, msgspec.Meta(max_length=200)]


class TokenPair(msgspec.Struct):
    """An access token (a JWT for `Authorization: Bearer`) and the refresh token that renews it."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    """Seconds the access token lives."""
    refresh_token: str
    refresh_expires_in: int
    """Seconds the refresh token lives (unless used, which replaces it)."""
    scope: str
    """The grant's scopes, space-separated (organization permissions are still capped by the role)."""
