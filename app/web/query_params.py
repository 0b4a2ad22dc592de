"""Lenient readers for filter values typed into a query string: a bad value is "no filter", never an error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID


def optional_uuid(text: str) -> UUID | None:
    """The UUID `text` names, or None for an empty or malformed value."""
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


def utc_day(text: str) -> datetime | None:
    """Midnight UTC of the day `text` names as YYYY-MM-DD, or None for anything else."""
    try:
        return (
            datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
            if len(text) == 10
            else None
        )
    except ValueError:
        return None
