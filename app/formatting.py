"""Small text helpers shared by pages and mail."""

from __future__ import annotations

import unicodedata
from datetime import timedelta


def human_duration(value: timedelta) -> str:
    """`timedelta(days=30)` → "30 days", `timedelta(minutes=90)` → "90 minutes" (for copy and mail)."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def initials(name: str) -> str:
    """ "Ada Lovelace" → "AL", "ada@example.com" → "A": the letters of an avatar (letters only, so
    no bidi control or symbol can end up in it)."""
    words = name.split("@", 1)[0].replace(".", " ").replace("_", " ").split()
    letters = [next((c for c in word if c.isalnum()), "") for word in words]
    picked = [c for c in letters if c][:2]
    return "".join(picked).upper() or "?"


def mixed_scripts(text: str) -> bool:
    """Whether the letters of `text` come from more than one script ("paypal" spelled with a Cyrillic
    letter a): such names and addresses are flagged where other members see them."""
    scripts = {unicodedata.name(c, "UNKNOWN").split(" ", 1)[0] for c in text if c.isalpha()}
    return len(scripts) > 1
