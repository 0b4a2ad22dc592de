"""Verify or update the htmx copy vendored in static/vendor/htmx/.

Gatehouse serves htmx itself instead of loading it from a CDN: pages then depend on no third
party at run time, the Content-Security-Policy stays same-origin, and there is no JavaScript
build step to install. The price is that the copy must be trustworthy, so the folder carries a
MANIFEST.json with the npm package and version the files came from, the tarball's integrity
string, and a SHA-384 (the Subresource Integrity form) and SHA-256 for every file. An update is
then a reviewable diff: new file name, new hashes, nothing else.

    python scripts/vendor_htmx.py [check]          # the folder matches MANIFEST.json (exit 0) or not (1)
    python scripts/vendor_htmx.py check --tarball htmx.org-4.0.1.tgz
                                                   # also: this `npm pack` tarball holds exactly these bytes
    python scripts/vendor_htmx.py update 4.0.2     # fetch with npm, verify, replace, rewrite the manifest

`update` downloads with `npm pack`, checks the tarball against the integrity npm's registry
publishes (`npm view htmx.org@VERSION dist.integrity`), copies `dist/htmx.min.js` (as
`htmx-VERSION.min.js`) and `LICENSE`, deletes the previous `htmx-*.min.js`, and points
templates/layouts/base.html at the new file when it named the old one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "static" / "vendor" / "htmx"
TEMPLATE = ROOT / "templates" / "layouts" / "base.html"
MANIFEST_NAME = "MANIFEST.json"
PACKAGE = "htmx.org"
# Exact releases only (no tags or ranges): the version ends up in a file name and a template.
VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?")
TEMPLATE_REFERENCE = re.compile(r"vendor/htmx/(htmx-[^'\"\s]*\.min\.js)")
NPM_TIMEOUT_SECONDS = 120


class VendorError(Exception):
    """Something went wrong that the user has to look at; the message says what."""


def script_name(version: str) -> str:
    """The vendored file name of htmx VERSION, e.g. `htmx-4.0.1.min.js`."""
    return f"htmx-{version}.min.js"


def vendored_files(version: str) -> dict[str, str]:
    """Files taken from the npm package (path inside it) and the names they get in the vendor folder."""
    return {"dist/htmx.min.js": script_name(version), "LICENSE": "LICENSE"}


def check_version(version: str) -> str:
    """Return VERSION if it is an exact release number such as 4.0.1, else raise VendorError."""
    if not VERSION_PATTERN.fullmatch(version):
        raise VendorError(f"{version!r} is not an exact version such as 4.0.1")
    return version


# Hashes and the manifest -------------------------------------------------------------------------


def sri_hash(data: bytes, algorithm: str = "sha384") -> str:
    """The Subresource Integrity string for DATA, e.g. `sha384-<base64 digest>`."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode('ascii')}"


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of DATA as lowercase hex (what `sha256sum` prints)."""
    return hashlib.sha256(data).hexdigest()


def build_manifest(version: str, tarball_integrity: str, contents: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest for a vendor folder holding CONTENTS (vendored file name -> bytes) of htmx VERSION."""
    files = {
        name: {"from": source, "sha384": sri_hash(contents[name]), "sha256": sha256_hex(contents[name])}
        for source, name in vendored_files(version).items()
    }
    return {
        "package": PACKAGE,
        "version": version,
        "source": (
            f"The npm package {PACKAGE}, version {version}: its files dist/htmx.min.js and LICENSE, "
            "copied byte for byte (the first renamed to carry the version)."
        ),
        "tarball_integrity": tarball_integrity,
        "files": files,
        "managed_by": "scripts/vendor_htmx.py (check verifies this folder, update VERSION replaces it)",
    }


def load_manifest(folder: Path) -> dict[str, Any]:
    """Read FOLDER's MANIFEST.json, raising VendorError if it is missing or malformed."""
    path = folder / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VendorError(f"{MANIFEST_NAME}: missing from {display(folder)}") from None
    except json.JSONDecodeError as error:
        raise VendorError(f"{MANIFEST_NAME}: not valid JSON ({error})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise VendorError(f"{MANIFEST_NAME}: needs a `version` such as 4.0.1, found {version!r}")
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise VendorError(f"{MANIFEST_NAME}: needs a `files` object mapping each file name to its hashes")
    return manifest


def check_folder(folder: Path) -> list[str]:
    """Compare FOLDER with its MANIFEST.json and return one message per problem (empty: all good)."""
    try:
        manifest = load_manifest(folder)
    except VendorError as error:
        return [str(error)]
    version, listed = manifest["version"], manifest["files"]
    expected = set(vendored_files(version).values())
    problems = [
        f"{MANIFEST_NAME}: does not list {name}, which version {version} needs"
        for name in sorted(expected - listed.keys())
    ]
    if manifest.get("package") != PACKAGE:
        problems.append(f"{MANIFEST_NAME}: package is {manifest.get('package')!r}, expected {PACKAGE!r}")
    for name, entry in listed.items():
        if name.endswith(".js") and name != script_name(version):
            problems.append(
                f"{name}: file name does not carry the manifest version {version} "
                f"(expected {script_name(version)})"
            )
        elif name not in expected:
            problems.append(f"{name}: listed in {MANIFEST_NAME} but not a file this tool vendors")
        elif not (folder / name).is_file():
            problems.append(f"{name}: listed in {MANIFEST_NAME} but missing from the folder")
        else:
            problems.extend(hash_problems(name, (folder / name).read_bytes(), entry))
    for path in sorted(folder.rglob("*.js")):
        name = path.relative_to(folder).as_posix()
        if name not in listed:
            problems.append(
                f"{name}: not listed in {MANIFEST_NAME} (delete it, or vendor it with this script)"
            )
    return problems


def hash_problems(name: str, data: bytes, entry: Mapping[str, Any]) -> list[str]:
    """Messages for each hash of DATA that differs from the manifest ENTRY of file NAME."""
    actual = {"sha384": sri_hash(data), "sha256": sha256_hex(data)}
    return [
        f"{name}: {algorithm} does not match {MANIFEST_NAME} (file: {value}, manifest: {entry.get(algorithm)})"
        for algorithm, value in actual.items()
        if entry.get(algorithm) != value
    ]


def check_template(template: Path, version: str) -> list[str]:
    """Messages if TEMPLATE does not load exactly the vendored htmx-VERSION.min.js."""
    names = TEMPLATE_REFERENCE.findall(template.read_text(encoding="utf-8"))
    if not names:
        return [f"{display(template)}: loads no vendor/htmx/htmx-*.min.js"]
    return [
        f"{display(template)}: loads vendor/htmx/{name}, but the vendored file is {script_name(version)}"
        for name in names
        if name != script_name(version)
    ]


# Tarballs ----------------------------------------------------------------------------------------


def verify_tarball(tarball: Path, integrity: str) -> None:
    """Raise VendorError unless TARBALL's SHA-512 is one of the sha512 entries of INTEGRITY (SRI form)."""
    expected = {token for token in integrity.split() if token.startswith("sha512-")}
    if not expected:
        raise VendorError(f"integrity {integrity!r} has no sha512 entry to check {tarball.name} against")
    actual = sri_hash(tarball.read_bytes(), "sha512")
    if actual not in expected:
        raise VendorError(f"{tarball.name}: integrity mismatch (file: {actual}, expected: {integrity})")


def extract_members(tarball: Path, members: Iterable[str], destination: Path) -> dict[str, Path]:
    """Extract the named regular files of TARBALL under DESTINATION, refusing links and unsafe paths."""
    extracted = {}
    with tarfile.open(tarball, "r:*") as archive:
        for name in members:
            try:
                member = archive.getmember(name)
            except KeyError:
                raise VendorError(f"{tarball.name}: has no {name}") from None
            if not member.isfile():
                raise VendorError(f"{tarball.name}: {name} is not a regular file")
            if hasattr(tarfile, "data_filter"):
                archive.extract(member, destination, filter="data")
            elif name.startswith("/") or ".." in name.split("/"):  # Python < 3.11.4 has no filters.
                raise VendorError(f"{tarball.name}: {name} would land outside {destination}")
            else:
                archive.extract(member, destination)
            extracted[name] = destination / name
    return extracted


def package_contents(tarball: Path, version: str, workdir: Path) -> dict[str, bytes]:
    """The vendored files of htmx VERSION read from its npm TARBALL, keyed by their vendored name."""
    sources = vendored_files(version)
    extracted = extract_members(tarball, [f"package/{source}" for source in sources], workdir)
    return {name: extracted[f"package/{source}"].read_bytes() for source, name in sources.items()}


def check_against_tarball(folder: Path, tarball: Path) -> list[str]:
    """Messages unless TARBALL has the manifest's integrity and holds byte-identical vendored files."""
    try:
        manifest = load_manifest(folder)
        verify_tarball(tarball, str(manifest.get("tarball_integrity", "")))
        with tempfile.TemporaryDirectory(prefix="vendor-htmx-") as workdir:
            contents = package_contents(tarball, manifest["version"], Path(workdir))
    except VendorError as error:
        return [str(error)]
    return [
        f"{name}: differs from the file in {tarball.name}"
        for name, data in contents.items()
        if not (folder / name).is_file() or (folder / name).read_bytes() != data
    ]


def check_all(folder: Path, template: Path, tarball: Path | None = None) -> list[str]:
    """Everything `check` verifies: the folder, the template's reference and, if given, a tarball."""
    problems = check_folder(folder)
    with suppress(VendorError):  # an unreadable manifest is already among the problems
        problems += check_template(template, load_manifest(folder)["version"])
    if tarball is not None:
        problems += check_against_tarball(folder, tarball)
    return problems


# Updating ----------------------------------------------------------------------------------------


def run_npm(*args: str, cwd: Path) -> str:
    """Run `npm ARGS` in CWD and return its standard output, raising VendorError on failure."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not on PATH; install Node.js to update the vendored htmx")
    result = subprocess.run(
        [npm, *args], cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise VendorError(f"`npm {' '.join(args)}` failed:\n{result.stderr.strip()}")
    return result.stdout


def fetch_from_npm(version: str, workdir: Path) -> tuple[Path, str]:
    """Download htmx.org@VERSION with `npm pack` into WORKDIR; return the tarball and its registry integrity."""
    spec = f"{PACKAGE}@{check_version(version)}"
    output = run_npm("view", spec, "dist.integrity", "--json", cwd=workdir).strip()
    integrity = json.loads(output) if output else None
    if not isinstance(integrity, str):
        raise VendorError(f"npm reports no published {spec} (got {output!r})")
    run_npm("pack", spec, "--ignore-scripts", "--pack-destination", str(workdir), cwd=workdir)
    tarballs = list(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VendorError(f"expected one tarball from `npm pack {spec}`, found {len(tarballs)}")
    return tarballs[0], integrity


def write_vendor_folder(folder: Path, version: str, integrity: str, contents: Mapping[str, bytes]) -> None:
    """Write CONTENTS and their manifest into FOLDER and delete any other `htmx-*.min.js`."""
    manifest = build_manifest(version, integrity, contents)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    for old in folder.glob("htmx-*.min.js"):
        if old.name not in contents:
            old.unlink()
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def point_template_at(template: Path, old_name: str | None, new_name: str) -> str:
    """Replace vendor/htmx/OLD_NAME with NEW_NAME in TEMPLATE if it is there; say what to do or was done."""
    old_ref, new_ref = f"vendor/htmx/{old_name}", f"vendor/htmx/{new_name}"
    text = template.read_text(encoding="utf-8")
    if new_ref in text:
        return f"{display(template)} already loads {new_ref}"
    if old_name and old_ref in text:
        template.write_text(text.replace(old_ref, new_ref), encoding="utf-8")
        return f"Updated {display(template)}: {old_ref} -> {new_ref}"
    return f"Change the htmx <script> in {display(template)} to static_url('{new_ref}')"


def update(
    version: str,
    folder: Path = VENDOR_DIR,
    template: Path = TEMPLATE,
    fetch: Callable[[str, Path], tuple[Path, str]] = fetch_from_npm,
) -> list[str]:
    """Replace the vendored htmx with VERSION (downloaded by FETCH) and return notes for the user."""
    check_version(version)
    try:
        old_name: str | None = script_name(load_manifest(folder)["version"])
    except VendorError:
        old_name = None
    with tempfile.TemporaryDirectory(prefix="vendor-htmx-") as workdir:
        tarball, integrity = fetch(version, Path(workdir))
        verify_tarball(tarball, integrity)
        contents = package_contents(tarball, version, Path(workdir) / "extracted")
    write_vendor_folder(folder, version, integrity, contents)
    if problems := check_folder(folder):
        raise VendorError("the folder fails its own check after the update:\n" + "\n".join(problems))
    return [
        f"Vendored {PACKAGE} {version} in {display(folder)} (tarball {integrity})",
        point_template_at(template, old_name, script_name(version)),
    ]


# Command line ------------------------------------------------------------------------------------


def display(path: Path) -> str:
    """PATH relative to the repository when it is inside it, for shorter messages."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run `check` (the default) or `update`; return the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--folder", type=Path, default=VENDOR_DIR, help="vendor folder (default: %(default)s)"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="template that loads htmx")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="verify the vendored files against MANIFEST.json (default)")
    check.add_argument("--tarball", type=Path, help="also verify against this `npm pack` tarball")
    update_parser = commands.add_parser("update", help="vendor another htmx version from npm")
    update_parser.add_argument("version", help="exact version, e.g. 4.0.2")
    args = parser.parse_args(argv)

    if args.command == "update":
        try:
            notes = update(args.version, args.folder, args.template)
        except VendorError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print("\n".join(notes))
        return 0

    problems = check_all(args.folder, args.template, getattr(args, "tarball", None))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{display(args.folder)}: every file matches {MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
