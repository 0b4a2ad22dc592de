"""Core releases as single commits, so a fork takes an upstream fix to the core with one command, safely.

The convention
--------------
A core release is **one commit that touches nothing outside `app/auth/core`** and whose message ends
with the git trailer

    Core-Release: X.Y.Z

Because the commit is self-contained, a fork that has diverged everywhere else can cherry-pick it
without conflicts (unless the fork edited the core itself); because the trailer is machine-readable,
the fork can list the releases it lacks without reading upstream's history by hand. The trailer's
version is compared with the fork's `VERSION`, whose build metadata (`0.1.0+acme.1`) is ignored.

Upstream makes a release with `make core-release v=0.2.0`. It needs a `CHANGELOG.md` entry headed
`## [0.2.0]`, written beforehand; a heading marked `(unreleased)` (`## [0.2.0] - (unreleased)`) is
rewritten to `## [0.2.0] - <today>`, any other heading is kept as written. The release then writes
`VERSION`, regenerates `MANIFEST.json` and commits `app/auth/core` alone. A release that only bumps
the version is allowed (it still needs its changelog entry).

A fork takes releases with

    python -m app.auth.core.releases pending [--security]   # exit status 1 when some are pending
    python -m app.auth.core.releases apply --all            # or: apply 0.2.0 (that one and older)

(`litestar core pending` and `litestar core apply` are the same). `apply` cherry-picks the pending
release commits oldest first (`git cherry-pick -x`), stops at the first conflict and says how to
resolve or abort it; once everything is in it checks the manifest, lists the core migrations that
arrived and runs the core's tests. Only stable versions (`X.Y.Z`) are releases.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from app.auth.core.manifest import CORE_ROOT, read_version, status_lines, write_manifest

__all__ = (
    "CORE_DIR",
    "REPO_ROOT",
    "TRAILER",
    "ApplyResult",
    "ChangelogEntry",
    "Conflict",
    "Release",
    "ReleaseError",
    "apply",
    "changelog_entry",
    "main",
    "make_release",
    "parse_version",
    "pending",
    "release_message",
    "report_lines",
    "run_apply",
    "run_pending",
    "run_release",
)

CORE_DIR = "app/auth/core"
"""Where the core lives, relative to the repository root (POSIX form, as git prints it)."""
REPO_ROOT = CORE_ROOT.parents[2]
"""The repository this core is installed in."""
TRAILER = "Core-Release"
"""The git trailer that marks a release commit."""

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\].*$", re.MULTILINE)
_UNRELEASED = re.compile(r"\(unreleased\)", re.IGNORECASE)


class ReleaseError(Exception):
    """A release or an apply was refused; the message says why and what to do."""


# --- versions and the changelog


def parse_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of `X.Y.Z`, with any build metadata (`+acme.1`) ignored."""
    match = _VERSION.fullmatch(text.strip().partition("+")[0])
    if match is None:
        raise ReleaseError(f"{text!r} is not a version of the form X.Y.Z")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class ChangelogEntry:
    """One release's entry in CHANGELOG.md."""

    version: str
    heading: str
    """The `## [X.Y.Z] ...` line as written."""
    body: str
    """Everything below the heading up to the next release, stripped."""

    @property
    def security(self) -> bool:
        """True when the entry has a `### Security` section."""
        return re.search(r"^### Security\s*$", self.body, re.MULTILINE) is not None

    @property
    def summary(self) -> str:
        """The body as plain text for a commit message or a terminal (`### Added` becomes `Added`)."""
        # `git commit` run from an editor (as `git cherry-pick --continue` is) strips lines that
        # start with `#`, which would silently drop the section names from the message.
        return re.sub(r"^#+ ", "", self.body, flags=re.MULTILINE)


def changelog_entry(changelog: str, version: str) -> ChangelogEntry | None:
    """The entry headed `## [version]` in a changelog's text, or None when there is none."""
    headings = list(_HEADING.finditer(changelog))
    for index, heading in enumerate(headings):
        if heading["version"] != version:
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(changelog)
        # Keep a Changelog ends with `[0.1.0]: https://...` link definitions; they belong to no entry.
        body = re.sub(r"^\[[^\]]+\]: \S+\s*$", "", changelog[heading.end() : end], flags=re.MULTILINE)
        return ChangelogEntry(version=version, heading=heading[0], body=body.strip())
    return None


def release_message(entry: ChangelogEntry) -> str:
    """The commit message of a release: subject, the changelog summary, and the trailer last."""
    return f"core: release {entry.version}\n\n{entry.summary}\n\n{TRAILER}: {entry.version}\n"


# --- making a release (upstream)


def make_release(repo_root: Path, version: str, *, today: date | None = None) -> str:
    """Commit release `version` of the core (VERSION, CHANGELOG date, MANIFEST.json); return the sha."""
    core = repo_root / CORE_DIR
    _refuse_changes_outside_core(repo_root)
    _refuse_unless_newer(version, current=read_version(core))
    entry = _date_changelog_entry(core / "CHANGELOG.md", version, today or date.today())
    (core / "VERSION").write_text(version + "\n", encoding="utf-8")
    write_manifest(core)
    _git(repo_root, "add", "--all", "--", CORE_DIR)
    _refuse_outside_core(_git_lines(repo_root, "diff", "--cached", "--name-only"), "staged")
    _git(repo_root, "commit", "--quiet", "--cleanup=whitespace", "--file=-", stdin=release_message(entry))
    sha = _git(repo_root, "rev-parse", "HEAD")
    _refuse_outside_core(_git_lines(repo_root, "diff-tree", "--no-commit-id", "--name-only", "-r", sha), sha)
    return sha


def _refuse_changes_outside_core(repo_root: Path) -> None:
    # A release commit must be cherry-pickable on its own; anything else in flight could slip into it.
    # Untracked files are left alone: only `app/auth/core` is staged, so they cannot slip in.
    outside = [path for path in _changed_paths(repo_root, untracked=False) if not _in_core(path)]
    if outside:
        raise ReleaseError(
            "the work tree has changes outside app/auth/core; commit or stash them first:\n  "
            + "\n  ".join(outside)
        )


def _refuse_unless_newer(version: str, *, current: str) -> None:
    if _VERSION.fullmatch(version) is None:
        raise ReleaseError(f"release versions are X.Y.Z without build metadata, not {version!r}")
    if parse_version(version) <= parse_version(current):
        raise ReleaseError(f"{version} is not newer than the current core version {current}")


def _date_changelog_entry(path: Path, version: str, today: date) -> ChangelogEntry:
    changelog = path.read_text(encoding="utf-8")
    entry = changelog_entry(changelog, version)
    if entry is None:
        raise ReleaseError(f"{path} has no entry for {version}; add `## [{version}] - (unreleased)` first")
    if not entry.body:
        raise ReleaseError(f"the CHANGELOG.md entry for {version} is empty; say what the release changes")
    if _UNRELEASED.search(entry.heading):
        dated = f"## [{version}] - {today.isoformat()}"
        path.write_text(changelog.replace(entry.heading, dated, 1), encoding="utf-8")
        entry = ChangelogEntry(version=version, heading=dated, body=entry.body)
    return entry


def _refuse_outside_core(paths: list[str], what: str) -> None:
    outside = [path for path in paths if not _in_core(path)]
    if outside:
        raise ReleaseError(f"{what} touches files outside app/auth/core: {', '.join(outside)}")


# --- finding releases (fork)


@dataclass(frozen=True)
class Release:
    """An upstream release commit the fork has not taken yet."""

    version: str
    sha: str
    summary: str
    """The release's changelog entry as plain text (from the commit's own CHANGELOG.md)."""
    security: bool
    """True when the entry has a Security section."""


def pending(
    repo_root: Path, remote: str = "upstream", branch: str | None = None, security_only: bool = False
) -> list[Release]:
    """Fetch `remote` and list its release commits newer than the fork's core version, oldest first."""
    _git(repo_root, "fetch", "--quiet", remote)
    current = parse_version(read_version(repo_root / CORE_DIR))
    releases = [
        _release(repo_root, sha, version)
        for sha, version in _release_commits(repo_root, _upstream_ref(repo_root, remote, branch))
        if parse_version(version) > current
    ]
    return [release for release in releases if release.security or not security_only]


def _upstream_ref(repo_root: Path, remote: str, branch: str | None) -> str:
    if branch:
        return f"{remote}/{branch}"
    head = _run(repo_root, "git", "symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD")
    return head.stdout.strip() if head.returncode == 0 else f"{remote}/main"


def _release_commits(repo_root: Path, ref: str) -> list[tuple[str, str]]:
    # `HEAD..ref` leaves out releases the fork already has through a merge, whatever its VERSION says.
    log_format = f"%H %(trailers:key={TRAILER},valueonly,separator=%x2C)"
    lines = _git_lines(
        repo_root, "log", "--reverse", "--topo-order", "--no-merges", f"--format={log_format}", f"HEAD..{ref}"
    )
    commits: list[tuple[str, str]] = []
    for line in lines:
        sha, _, version = line.partition(" ")
        if version.strip():
            parse_version(version)  # a malformed trailer is upstream's mistake; say so instead of guessing
            commits.append((sha, version.strip()))
    return commits


def _release(repo_root: Path, sha: str, version: str) -> Release:
    changelog = _run(repo_root, "git", "show", f"{sha}:{CORE_DIR}/CHANGELOG.md").stdout
    entry = changelog_entry(changelog, version)
    if entry is None:
        return Release(version, sha, f"(no CHANGELOG.md entry for {version})", security=False)
    return Release(version, sha, entry.summary, entry.security)


# --- applying releases (fork)


@dataclass(frozen=True)
class Conflict:
    """A cherry-pick that stopped; the repository is left mid-cherry-pick for a human."""

    release: Release
    files: list[str]
    """Files with unresolved conflicts (empty when git stopped for another reason)."""
    git_output: str


@dataclass(frozen=True)
class ApplyResult:
    """What `apply` did, and whether everything it checked passed."""

    applied: list[Release] = field(default_factory=list)
    conflict: Conflict | None = None
    status: list[str] = field(default_factory=list)
    """`core status` after applying: the version and clean, or the drifted files."""
    manifest_clean: bool = True
    migrations: list[str] = field(default_factory=list)
    """Files under app/auth/core/migrations/ that the applied releases added."""
    tests_passed: bool | None = None
    """The core's tests: True or False, None when they were not run."""
    tests_output: str = ""

    @property
    def ok(self) -> bool:
        """True when every release applied cleanly and every check that ran passed."""
        return self.conflict is None and self.manifest_clean and self.tests_passed is not False


def apply(
    repo_root: Path,
    version: str | None = None,
    *,
    remote: str = "upstream",
    branch: str | None = None,
    run_tests: bool = True,
) -> ApplyResult:
    """Cherry-pick the pending releases up to `version` (all when None), oldest first, then check them."""
    _refuse_unless_clean(repo_root)
    releases = _up_to(pending(repo_root, remote, branch), version)
    if not releases:
        return ApplyResult()
    before = _git(repo_root, "rev-parse", "HEAD")
    applied: list[Release] = []
    for release in releases:
        conflict = _cherry_pick(repo_root, release)
        if conflict is not None:
            return ApplyResult(applied=applied, conflict=conflict)
        applied.append(release)
    return _check(repo_root, applied, before, run_tests)


def _refuse_unless_clean(repo_root: Path) -> None:
    if Path(_git(repo_root, "rev-parse", "--absolute-git-dir"), "CHERRY_PICK_HEAD").exists():
        raise ReleaseError(
            "a cherry-pick is in progress: finish it (git cherry-pick --continue) "
            "or abort it (git cherry-pick --abort) first"
        )
    changed = _changed_paths(repo_root, untracked=True)
    if changed:
        # A conflict must only ever involve the release, so the fork's own work is never mixed in.
        raise ReleaseError("the work tree is not clean; commit or stash first:\n  " + "\n  ".join(changed))


def _up_to(releases: list[Release], version: str | None) -> list[Release]:
    if version is None:
        return releases
    versions = [release.version for release in releases]
    if version not in versions:
        raise ReleaseError(f"{version} is not a pending release (pending: {', '.join(versions) or 'none'})")
    return releases[: versions.index(version) + 1]


def _cherry_pick(repo_root: Path, release: Release) -> Conflict | None:
    picked = _run(repo_root, "git", "cherry-pick", "-x", release.sha)
    if picked.returncode == 0:
        return None
    files = _git_lines(repo_root, "diff", "--name-only", "--diff-filter=U")
    return Conflict(release, files, (picked.stdout + picked.stderr).strip())


def _check(repo_root: Path, applied: list[Release], before: str, run_tests: bool) -> ApplyResult:
    status, clean = status_lines(repo_root / CORE_DIR)
    migrations = _git_lines(
        repo_root, "diff", "--name-only", "--diff-filter=A", before, "HEAD", "--", f"{CORE_DIR}/migrations/"
    )
    passed, output = _run_core_tests(repo_root) if run_tests else (None, "")
    return ApplyResult(
        applied=applied,
        status=status,
        manifest_clean=clean,
        migrations=migrations,
        tests_passed=passed,
        tests_output=output,
    )


def _run_core_tests(repo_root: Path) -> tuple[bool, str]:
    tests = _run(repo_root, sys.executable, "-m", "pytest", f"{CORE_DIR}/tests", "-q")
    # stderr (warnings) first, so that the last line is pytest's summary.
    return tests.returncode == 0, (tests.stderr + tests.stdout).strip()


# --- reports and the command line


def report_lines(result: ApplyResult, *, command: str = "python -m app.auth.core.releases") -> list[str]:
    """What `apply` did, for a terminal: the releases applied, then the conflict or the checks."""
    lines = [f"applied {release.version} ({release.sha[:12]})" for release in result.applied]
    if result.conflict is not None:
        return lines + _conflict_lines(result.conflict, command)
    if not result.applied:
        return ["no core releases pending; nothing applied"]
    lines += result.status
    lines += [f"new migration: {path}" for path in result.migrations]
    if result.migrations:
        lines.append("  run them with the app's migrations (make migrate)")
    if result.tests_passed is None:
        lines.append("core tests: skipped")
    else:
        # pytest's last line is the summary; on failure the tail also shows what failed.
        tail = result.tests_output.splitlines()[-1 if result.tests_passed else -30 :]
        lines += [
            f"core tests: {'passed' if result.tests_passed else 'FAILED'}",
            *(f"  {line}" for line in tail),
        ]
    lines.append("OK" if result.ok else "NOT OK: see above")
    return lines


def _conflict_lines(conflict: Conflict, command: str) -> list[str]:
    release = conflict.release
    lines = [f"CONFLICT applying core {release.version} ({release.sha[:12]}); the cherry-pick is stopped."]
    if conflict.files:
        lines += ["Files with conflicts:", *(f"  {name}" for name in conflict.files)]
        add = "git add " + " ".join(shlex.quote(name) for name in conflict.files)
        lines += [
            "Resolve them (in favour of upstream unless your edit must stay), then:",
            f"  {add} && git cherry-pick --continue",
        ]
    else:
        lines += ["git said:", *(f"  {line}" for line in conflict.git_output.splitlines())]
    lines += [
        "Or give this release up and return to where you were:",
        "  git cherry-pick --abort",
        f"After continuing, run `{command} apply --all` for any later releases,",
        "then `make core-status` and the core's tests if none were left.",
    ]
    return lines


def run_release(repo_root: Path, version: str) -> int:
    """`release VERSION`: make the release commit and print it; exit status 0, or 2 when refused."""
    try:
        sha = make_release(repo_root, version)
    except ReleaseError as exc:
        return _refused(exc)
    print(f"core {version} released as {sha[:12]}: {TRAILER}: {version}")
    return 0


def run_pending(
    repo_root: Path, *, remote: str = "upstream", branch: str | None = None, security_only: bool = False
) -> int:
    """`pending`: print the pending releases; exit status 0 when none, 1 when some, 2 when refused."""
    try:
        releases = pending(repo_root, remote, branch, security_only)
    except ReleaseError as exc:
        return _refused(exc)
    kind = "security releases" if security_only else "releases"
    current = read_version(repo_root / CORE_DIR)
    if not releases:
        print(f"core {current}: no {kind} pending from {remote}")
        return 0
    print(f"core {current}: {len(releases)} {kind} pending from {remote}, oldest first:")
    for release in releases:
        print(f"{release.version}  {release.sha[:12]}" + ("  [security]" if release.security else ""))
        print("\n".join(f"    {line}" if line else "" for line in release.summary.splitlines()))
    return 1


def run_apply(
    repo_root: Path,
    version: str | None = None,
    *,
    remote: str = "upstream",
    branch: str | None = None,
    run_tests: bool = True,
    command: str = "python -m app.auth.core.releases",
) -> int:
    """`apply`: take the releases and print the report; exit status 0 only when all applied and passed."""
    try:
        result = apply(repo_root, version, remote=remote, branch=branch, run_tests=run_tests)
    except ReleaseError as exc:
        return _refused(exc)
    print("\n".join(report_lines(result, command=command)))
    return 0 if result.ok else 1


def _refused(exc: ReleaseError) -> int:
    print(f"refused: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `release VERSION`, `pending [--security]`, `apply (VERSION | --all) [--no-tests]`."""
    args = _parser().parse_args(argv)
    repo = Path(args.repo)
    if args.command == "release":
        return run_release(repo, args.version)
    if args.command == "pending":
        return run_pending(repo, remote=args.remote, branch=args.branch, security_only=args.security)
    if bool(args.version) == args.all:
        # Taking several commits into a fork is deliberate: name the release or say --all, not both.
        print("refused: give a VERSION or --all (not both)", file=sys.stderr)
        return 2
    return run_apply(repo, args.version, remote=args.remote, branch=args.branch, run_tests=not args.no_tests)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.auth.core.releases", description="Make and take security core releases."
    )
    parser.add_argument("--repo", default=str(REPO_ROOT), help="the repository (default: this one)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="commit a core release (upstream)")
    release.add_argument("version", help="the new version, X.Y.Z, with a CHANGELOG.md entry")
    pending_parser = _with_remote(commands.add_parser("pending", help="list the upstream releases not taken"))
    pending_parser.add_argument(
        "--security", action="store_true", help="only releases with a Security section"
    )
    apply_parser = _with_remote(commands.add_parser("apply", help="cherry-pick the pending releases"))
    apply_parser.add_argument("version", nargs="?", help="apply the pending releases up to this one")
    apply_parser.add_argument("--all", action="store_true", help="apply every pending release")
    apply_parser.add_argument("--no-tests", action="store_true", help="skip the core's tests afterwards")
    return parser


def _with_remote(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--remote", default="upstream", help="the upstream remote (default: upstream)")
    parser.add_argument("--branch", help="the upstream branch (default: the remote's HEAD, or main)")
    return parser


# --- git


def _changed_paths(repo_root: Path, *, untracked: bool) -> list[str]:
    """Every path with a staged or unstaged change (and untracked, not ignored); both sides of a rename."""
    show_untracked = "--untracked-files=" + ("all" if untracked else "no")
    fields = _git(repo_root, "status", "--porcelain=v1", "-z", show_untracked, strip=False).split("\0")
    paths: list[str] = []
    index = 0
    while index < len(fields) and fields[index]:
        status, path = fields[index][:2], fields[index][3:]
        paths.append(path)
        if "R" in status or "C" in status:  # -z puts a rename's source in the next field
            index += 1
            paths.append(fields[index])
        index += 1
    return paths


def _in_core(path: str) -> bool:
    return path.startswith(CORE_DIR + "/")


def _git(repo_root: Path, *args: str, stdin: str | None = None, strip: bool = True) -> str:
    done = _run(repo_root, "git", *args, stdin=stdin)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip() if strip else done.stdout


def _git_lines(repo_root: Path, *args: str) -> list[str]:
    return [line for line in _git(repo_root, *args).splitlines() if line]


def _run(repo_root: Path, *command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # Plain argument lists, never a shell: versions and remote names reach git as single arguments.
    return subprocess.run(  # noqa: S603
        command, cwd=repo_root, input=stdin, capture_output=True, text=True, check=False
    )


if __name__ == "__main__":
    raise SystemExit(main())
