"""Small text helpers shared by pages and mail."""

from __future__ import annotations

from datetime import timedelta


def human_duration(value: timedelta) -> str:
    """`timedelta(days=30)` → "30 days", `timedelta(minutes=90)` → "90 minutes" (for copy and mail)."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"
