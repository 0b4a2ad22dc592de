"""The `projects` table: the example of a table whose rows belong to one organization.

`OrgScoped` adds `org_id` (a foreign key to the organization, indexed). Rows are only ever read
and written through `tenancy.scoped(...)`/`get_scoped(...)`, which take the organization from the
request's membership, never from the request [69].
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.core.models import OrgScoped
from app.db import Base

if TYPE_CHECKING:
    from app.auth.models import User

__all__ = ("NAME_MAX", "SUMMARY_MAX", "Project")

NAME_MAX = 100
SUMMARY_MAX = 500


class Project(OrgScoped, Base):
    """Something an organization works on: a name, a one-paragraph summary, archived or not."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_org_id_name", "org_id", "name"),)

    name: Mapped[str] = mapped_column(String(NAME_MAX))
    summary: Mapped[str] = mapped_column(String(SUMMARY_MAX), default="")
    archived_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    created_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    # `lazy="raise"`: a template that touches `creator` without the list query's join fails loudly
    # instead of quietly running one query per row (the N+1 the list page's test counts).
    creator: Mapped[User | None] = relationship(lazy="raise")

    @property
    def is_archived(self) -> bool:
        """Whether the project has been archived (hidden from the default list, kept for the record)."""
        return self.archived_at is not None
