"""`make audit` fails on a vulnerable pin, and never passes silently when it could not look."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.audit_deps import CANARY, UNREACHABLE, canary_flagged

ROOT = Path(__file__).resolve().parent.parent

# Shapes of pip-audit's JSON report (pip-audit 2.x) for the canary pin.
FLAGGED = {
    "dependencies": [
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]}
    ]
}
CLEAN = {"dependencies": [{"name": "jinja2", "version": "2.10", "vulns": []}]}
NOT_FOUND = {
    "dependencies": [
        {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    ]
}


def test_the_canary_counts_only_when_an_advisory_is_listed() -> None:
    assert CANARY == "jinja2==2.10"
    assert canary_flagged(FLAGGED)
    assert not canary_flagged(CLEAN)
    assert not canary_flagged(NOT_FOUND)
    assert not canary_flagged({})


def fake_pip_audit(tmp_path: Path, *, service_up: bool, lock_vulnerable: bool) -> Path:
    """An executable answering like pip-audit would with the service up or down."""
    report = FLAGGED if service_up else NOT_FOUND
    script = tmp_path / "pip-audit"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "if '--format' in args:\n"
        f"    print(json.dumps({report!r}))\n"
        "    sys.exit(1)\n"
        "assert '--strict' in args and '--require-hashes' in args, args\n"
        f"sys.exit({1 if lock_vulnerable else 0})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def run_audit(tool: Path, *args: str) -> int:
    env = {**os.environ, "PIP_AUDIT": str(tool)}
    env.pop("AUDIT_REQUIRED", None)
    return subprocess.run(
        [sys.executable, "scripts/audit_deps.py", *args], cwd=ROOT, env=env, capture_output=True, check=False
    ).returncode


@pytest.mark.parametrize(("lock_vulnerable", "expected"), [(True, 1), (False, 0)])
def test_with_the_service_up_a_vulnerable_lock_fails_the_step(
    tmp_path: Path, lock_vulnerable: bool, expected: int
) -> None:
    assert run_audit(fake_pip_audit(tmp_path, service_up=True, lock_vulnerable=lock_vulnerable)) == expected


def test_with_the_service_down_the_step_says_so_and_fails_when_required(tmp_path: Path) -> None:
    tool = fake_pip_audit(tmp_path, service_up=False, lock_vulnerable=True)
    assert run_audit(tool) == 0
    assert run_audit(tool, "--require") == UNREACHABLE
