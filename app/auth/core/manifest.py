"""The core's manifest: a SHA-256 of every file, so a fork can tell whether its core is what upstream shipped.

Forks keep `app/auth/core` current by cherry-picking upstream releases. That only stays painless if
the core is not quietly edited in between, so every release carries `MANIFEST.json`:

1. Upstream bumps `VERSION`, adds a `CHANGELOG.md` entry and regenerates the manifest
   (`make core-manifest`) in one commit that touches nothing outside `app/auth/core`.
2. A fork cherry-picks that commit (`git cherry-pick <sha>`); it applies cleanly because no other
   files are involved.
3. `litestar core status` (or `python -m app.auth.core.manifest --check`) compares the files with
   the manifest. Clean means the fork runs exactly the released core. Drift lists local edits:
   each one is something to review, and to re-apply or drop, when taking the next release.

A test fails whenever a core file changes without the manifest being regenerated, so upstream
cannot ship a release whose manifest is out of date.

    python -m app.auth.core.manifest --write   # regenerate MANIFEST.json (upstream, when releasing)
    python -m app.auth.core.manifest --check   # report drift; exit status 1 when there is any
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = (
    "CORE_ROOT",
    "MANIFEST_NAME",
    "Drift",
    "build_manifest",
    "check_manifest",
    "main",
    "read_version",
    "render_manifest",
    "status_lines",
    "write_manifest",
)

CORE_ROOT = Path(__file__).resolve().parent
"""The installed core package (`app/auth/core`)."""
MANIFEST_NAME = "MANIFEST.json"


@dataclass(frozen=True)
class Drift:
    """How the files on disk differ from the manifest (relative POSIX paths, sorted)."""

    changed: list[str] = field(default_factory=list)
    """Files whose contents differ from the manifest."""
    added: list[str] = field(default_factory=list)
    """Files the manifest does not list."""
    removed: list[str] = field(default_factory=list)
    """Files the manifest lists that are missing."""

    @property
    def clean(self) -> bool:
        """True when the files are exactly what the manifest describes."""
        return not (self.changed or self.added or self.removed)


def read_version(root: Path) -> str:
    """The version in `root/VERSION`."""
    return (root / "VERSION").read_text(encoding="utf-8").strip()


def build_manifest(root: Path) -> dict[str, Any]:
    """{"version": ..., "files": {path: sha256 hex}} for every core file but the manifest and bytecode."""
    files = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and _is_tracked(path.relative_to(root))
    }
    return {"version": read_version(root), "files": dict(sorted(files.items()))}


def render_manifest(manifest: dict[str, Any]) -> str:
    """The manifest as stable JSON (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def write_manifest(root: Path) -> Path:
    """Regenerate `root/MANIFEST.json` from the files and return its path."""
    path = root / MANIFEST_NAME
    path.write_text(render_manifest(build_manifest(root)), encoding="utf-8")
    return path


def check_manifest(root: Path) -> Drift:
    """Compare the files under `root` with its manifest (a missing manifest lists every file as added)."""
    path = root / MANIFEST_NAME
    recorded: dict[str, str] = {}
    if path.exists():
        recorded = json.loads(path.read_text(encoding="utf-8"))["files"]
    actual: dict[str, str] = build_manifest(root)["files"]
    return Drift(
        changed=sorted(name for name in actual.keys() & recorded.keys() if actual[name] != recorded[name]),
        added=sorted(actual.keys() - recorded.keys()),
        removed=sorted(recorded.keys() - actual.keys()),
    )


def status_lines(root: Path) -> tuple[list[str], bool]:
    """The human-readable status of the core at `root`, and whether it is clean."""
    drift = check_manifest(root)
    lines = [f"security core {read_version(root)}: " + ("clean" if drift.clean else "drift")]
    for label, names in (("changed", drift.changed), ("added", drift.added), ("removed", drift.removed)):
        lines += [f"  {label}: {name}" for name in names]
    return lines, drift.clean


def main(argv: list[str] | None = None) -> int:
    """Command line: `--write` regenerates the manifest, `--check` reports drift (exit 1 when any)."""
    parser = argparse.ArgumentParser(
        prog="python -m app.auth.core.manifest",
        description="Write or check the security core's manifest (MANIFEST.json).",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate MANIFEST.json")
    action.add_argument("--check", action="store_true", help="compare the files with MANIFEST.json")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write_manifest(CORE_ROOT)}")
        return 0
    lines, clean = status_lines(CORE_ROOT)
    print("\n".join(lines))
    return 0 if clean else 1


def _is_tracked(relative: Path) -> bool:
    return (
        relative.as_posix() != MANIFEST_NAME
        and "__pycache__" not in relative.parts
        and relative.suffix != ".pyc"
    )


if __name__ == "__main__":
    raise SystemExit(main())
