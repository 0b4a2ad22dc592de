"""docs/security-posture.md states the policy the code enforces, and names only tests that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from app.auth.core.policy import SecurityPolicy, describe
from app.features import REMOVED
from scripts.policy_doc import DOC, END, START, policy_table, render

ROOT = Path(__file__).resolve().parent.parent
GUIDES = [
    "security-posture.md",
    "registration.md",
    "sign-in.md",
    "sessions.md",
    "email-change.md",
    "password-reset.md",
    "magic-link.md",
    "oauth.md",
]
UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "day": "days", "days": "days"}

# The project's policy (POLICY.md): what the generated table must say, whatever the code does.
POLICY_DURATIONS = {
    "session_idle_timeout": timedelta(minutes=30),
    "session_absolute_timeout": timedelta(hours=12),
    "remember_me_lifetime": timedelta(days=30),
    "sudo_window": timedelta(minutes=15),
    "password_reset_ttl": timedelta(minutes=60),
    "magic_link_ttl": timedelta(minutes=10),
    "confirmation_link_ttl": timedelta(hours=24),
    "confirmation_code_ttl": timedelta(minutes=10),
    "email_change_ttl": timedelta(hours=24),
    "login_first_delay": timedelta(seconds=1),
    "login_max_delay": timedelta(minutes=15),
    "trusted_device_lifetime": timedelta(days=30),
}
POLICY_COUNTS = {
    "password_min_length": 12,
    "password_max_length": 128,
    "login_free_failures": 5,
    "login_hard_cap": 100,
    "ip_auth_posts_per_minute": 10,
    "emails_per_address_per_hour": 5,
    "emails_per_ip_per_hour": 20,
    "max_sessions_per_user": 20,
    "code_digits": 6,
    "code_max_attempts": 5,
}


def documented() -> dict[str, str]:
    """Policy field -> value, as the table in the committed document says."""
    text = DOC.read_text()
    table = text.split(START, 1)[1].split(END, 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", table, flags=re.MULTILINE))


def policy_table_from_code() -> str:
    return policy_table(describe())


def duration(text: str) -> timedelta:
    number, unit = text.split()
    return timedelta(**{UNITS[unit]: int(number)})


def test_generated_policy_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/policy_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_table_lists_every_policy_field() -> None:
    assert list(documented()) == [f.name for f in fields(SecurityPolicy)]


@pytest.mark.parametrize(("name", "expected"), POLICY_DURATIONS.items())
def test_documented_durations_are_the_policy_defaults(name: str, expected: timedelta) -> None:
    assert duration(documented()[name]) == expected


@pytest.mark.parametrize(("name", "expected"), POLICY_COUNTS.items())
def test_documented_counts_are_the_policy_defaults(name: str, expected: int) -> None:
    assert int(documented()[name]) == expected


def test_documented_hashing_is_argon2id_at_the_library_defaults() -> None:
    assert documented()["argon2"] == "argon2id t=3, m=64 MiB, p=4"


def test_a_stale_table_is_rewritten() -> None:
    current = DOC.read_text()
    stale = current.replace("| `sudo_window` | 15 min |", "| `sudo_window` | 60 min |")
    assert stale != current
    assert render(stale, policy_table_from_code()) == current


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="policy:start"):
        render("# no markers here\n", policy_table_from_code())


@pytest.mark.parametrize("guide", GUIDES)
def test_every_test_a_guide_names_exists(guide: str) -> None:
    text = (ROOT / "docs" / guide).read_text()
    cited = re.findall(r"((?:tests|app/auth/core/tests|e2e)/[\w/]+\.py)::(\w+)", text)
    assert cited, f"{guide} should say where its tests are"
    missing = []
    removed = tuple(path for paths in REMOVED.values() for path in paths)  # a fork deleted them
    for path, name in cited:
        if path.startswith(removed):
            continue
        source = ROOT / path
        if not source.exists() or not re.search(rf"^(async )?def {name}\(", source.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert not missing, f"{guide} names tests that do not exist: {missing}"
