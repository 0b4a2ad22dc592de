"""Verify or update the Lucide icons vendored in static/vendor/lucide/.

Gatehouse draws its interface icons from Lucide (ISC license), copied from the npm package
`lucide-static` like htmx is (see scripts/vendor_htmx.py): no CDN and no build step. Only the
icons the templates use are copied. MANIFEST.json names the package version, the tarball's
integrity string and a SHA-256 for every file, so an update is a reviewable diff.

    python scripts/vendor_icons.py [check]           # the folder matches MANIFEST.json (exit 0) or not (1)
    python scripts/vendor_icons.py update 1.63.0     # fetch with npm, verify, replace, rewrite the manifest
    python scripts/vendor_icons.py add NAME ...      # copy more icons of the vendored version

Templates draw one with `{{ icon("users") }}`: the SVG is read once at startup (app.web.icons)
and inlined, so the Content-Security-Policy needs nothing new.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "lucide-static"
FOLDER = Path(__file__).resolve().parents[1] / "static" / "vendor" / "lucide"
MANIFEST = FOLDER / "MANIFEST.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check() -> int:
    """Exit status 0 when every file listed is present with its hash and nothing else is there."""
    manifest = json.loads(MANIFEST.read_text())
    listed = set(manifest["files"])
    present = {path.name for path in FOLDER.iterdir() if path.name != MANIFEST.name}
    problems = [f"missing: {name}" for name in sorted(listed - present)]
    problems += [f"not in the manifest: {name}" for name in sorted(present - listed)]
    problems += [
        f"changed: {name}"
        for name in sorted(listed & present)
        if sha256(FOLDER / name) != manifest["files"][name]["sha256"]
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{PACKAGE} {manifest['version']}: {len(listed)} files match MANIFEST.json")
    return 1 if problems else 0


def _fetch(version: str, workdir: Path) -> tuple[Path, str]:
    """`npm pack` the version into workdir; the unpacked folder and the integrity npm publishes."""
    spec = f"{PACKAGE}@{version}"
    integrity = subprocess.run(
        ["npm", "view", spec, "dist.integrity"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, check=True, capture_output=True)
    [tarball] = workdir.glob(f"{PACKAGE}-*.tgz")
    import base64

    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{tarball.name} does not match the published integrity {integrity}")
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package", integrity


def write(version: str, names: list[str]) -> int:
    """Copy LICENSE and the named icons of `version` into the folder and rewrite the manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        package, integrity = _fetch(version, Path(tmp))
        for name in names:
            if not (package / "icons" / f"{name}.svg").is_file():
                raise SystemExit(f"{PACKAGE} {version} has no icon {name!r}")
        shutil.rmtree(FOLDER, ignore_errors=True)
        FOLDER.mkdir(parents=True)
        files = {"LICENSE": "LICENSE", **{f"{name}.svg": f"icons/{name}.svg" for name in names}}
        for target, source in files.items():
            shutil.copyfile(package / source, FOLDER / target)
    manifest = {
        "package": PACKAGE,
        "version": version,
        "license": "ISC",
        "source": f"The npm package {PACKAGE}, version {version}: LICENSE and the icons listed, byte for byte.",
        "tarball_integrity": integrity,
        "files": {
            target: {"from": source, "sha256": sha256(FOLDER / target)} for target, source in files.items()
        },
        "managed_by": "scripts/vendor_icons.py (check verifies this folder, update VERSION replaces it)",
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return check()


def icon_names() -> list[str]:
    manifest = json.loads(MANIFEST.read_text())
    return sorted(name.removesuffix(".svg") for name in manifest["files"] if name.endswith(".svg"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("check")
    update = commands.add_parser("update")
    update.add_argument("version")
    add = commands.add_parser("add")
    add.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "update":
        return write(args.version, icon_names())
    if args.command == "add":
        version = json.loads(MANIFEST.read_text())["version"]
        return write(version, sorted({*icon_names(), *args.names}))
    return check()


if __name__ == "__main__":
    sys.exit(main())
