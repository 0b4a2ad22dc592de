"""The projects part of a person's data export (`GatehouseAdapter.export_sections`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.models import Organization
from app.projects.models import Project


async def projects_created_by(db: AsyncSession, user_id: UUID) -> list[dict[str, Any]]:
    """Every project `user_id` created, with its organization, as plain JSON (one statement)."""
    rows = await db.execute(
        select(Project, Organization.slug)
        .join(Organization, Organization.id == Project.org_id)
        .where(Project.created_by == user_id)
        .order_by(Project.created_at)
    )
    return [
        {
            "organization": slug,
            "name": project.name,
            "summary": project.summary,
            "created_at": project.created_at.isoformat(),
            "archived_at": project.archived_at.isoformat() if project.archived_at else None,
        }
        for project, slug in rows.all()
    ]
