"""The users list of the admin console: search, filters, sort and keyset pages in one statement.

Keyset pagination (`after` = the last row's sort value and id) rather than OFFSET, so page 500
costs what page 1 costs. The facts each row shows (two-factor, admin, locked...) are computed in
the same statement, never per row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import UUID

from sqlalchemy import exists, or_, select, tuple_

from app.auth.core.models import PlatformAdmin, TotpCredential, WebAuthnCredential
from app.auth.models import User

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ("FILTERS", "SORTS", "UserQuery", "search_users")

PAGE_SIZE = 25
FILTERS = {
    "confirmed": "Confirmed",
    "unconfirmed": "Not confirmed",
    "two_factor": "Two-step on",
    "no_two_factor": "Two-step off",
    "locked": "Sign-in locked",
    "disabled": "Disabled",
    "deleted": "Deleted (awaiting purge)",
    "admin": "Administrators",
}
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "email": "Email A to Z"}

_HAS_TOTP = exists().where(TotpCredential.user_id == User.id, TotpCredential.confirmed_at.is_not(None))
_HAS_PASSKEY = exists().where(WebAuthnCredential.user_id == User.id)
_IS_ADMIN = exists().where(PlatformAdmin.user_id == User.id)
_CONDITIONS: dict[str, Any] = {
    "confirmed": User.confirmed_at.is_not(None),
    "unconfirmed": User.confirmed_at.is_(None),
    "two_factor": or_(_HAS_TOTP, _HAS_PASSKEY),
    "no_two_factor": ~or_(_HAS_TOTP, _HAS_PASSKEY),
    "locked": User.sign_in_locked_at.is_not(None),
    "disabled": User.is_active.is_(False),
    "deleted": User.purge_after.is_not(None),
    "admin": _IS_ADMIN,
}


@dataclass(frozen=True)
class UserQuery:
    """The list's search box, filter, sort and page position, as read from the query string."""

    q: str = ""
    filter: str = ""
    sort: str = "newest"
    after: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> UserQuery:
        """What the query string says; anything unknown falls back to the default."""
        filter_ = str(params.get("filter", ""))
        sort = str(params.get("sort", "newest"))
        return cls(
            q=" ".join(str(params.get("q", "")).split())[:100],
            filter=filter_ if filter_ in FILTERS else "",
            sort=sort if sort in SORTS else "newest",
            after=str(params.get("after", ""))[:400],
        )

    def query_string(self, **changes: Any) -> str:
        """These settings as `?...` with some changed (a new sort or filter starts at page one)."""
        values = {"q": self.q, "filter": self.filter, "sort": self.sort, "after": self.after, **changes}
        if values["sort"] == "newest":
            values["sort"] = ""
        params = {key: value for key, value in values.items() if value}
        return "?" + urlencode(params) if params else ""

    def first_page(self) -> UserQuery:
        """The same search from its first page."""
        return replace(self, after="")


def _cursor_of(sort: str, row: Any) -> str:
    value = row.email_canonical if sort == "email" else row.created_at.isoformat()
    return f"{value}|{row.id}"


def _parse_cursor(sort: str, cursor: str) -> tuple[Any, UUID] | None:
    value, _, raw_id = cursor.rpartition("|")
    try:
        key: Any = value if sort == "email" else datetime.fromisoformat(value)
        return key, UUID(raw_id)
    except ValueError:
        return None


async def search_users(db: AsyncSession, query: UserQuery) -> tuple[list[Any], str | None]:
    """One page of users matching `query`, and the cursor of the next page (None on the last)."""
    statement = select(
        User.id,
        User.email,
        User.email_canonical,
        User.display_name,
        User.created_at,
        User.confirmed_at,
        User.is_active,
        User.sign_in_locked_at,
        User.purge_after,
        User.last_login_at,
        or_(_HAS_TOTP, _HAS_PASSKEY).label("has_two_factor"),
        _IS_ADMIN.label("is_admin"),
    )
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(User.email.ilike(pattern, escape="\\"), User.display_name.ilike(pattern, escape="\\"))
        )
    if query.filter:
        statement = statement.where(_CONDITIONS[query.filter])
    columns: tuple[Any, Any] = {
        "newest": (User.created_at.desc(), User.id.desc()),
        "oldest": (User.created_at.asc(), User.id.asc()),
        "email": (User.email_canonical.asc(), User.id.asc()),
    }[query.sort]
    statement = statement.order_by(*columns)
    cursor = _parse_cursor(query.sort, query.after) if query.after else None
    if cursor is not None:
        sort_column = User.email_canonical if query.sort == "email" else User.created_at
        keys = tuple_(sort_column, User.id)
        statement = statement.where(keys < cursor if query.sort == "newest" else keys > cursor)
    rows = list(await db.execute(statement.limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (_cursor_of(query.sort, rows[-1]) if more else None)
