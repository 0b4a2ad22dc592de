"""Core releases: made as one core-only commit with a trailer, listed and cherry-picked by a fork.

Every test builds real git repositories in tmp_path: an "upstream" with a tiny fake core and a host
file, and a "fork" cloned from it with the remote named `upstream`.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from app.auth.core.manifest import check_manifest, write_manifest
from app.auth.core.releases import (
    CORE_DIR,
    ReleaseError,
    apply,
    changelog_entry,
    main,
    make_release,
    parse_version,
    pending,
    report_lines,
)

CHANGELOG = """\
# Changelog of the fake core

## [0.1.0] - 2026-01-01

### Added

- `feature`: the first feature.
"""

FEATURE = "def answer() -> int:\n    return 41\n"


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's or CI's git configuration (signing, hooks, templates) out of the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its stripped output (failing the test when git fails)."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)  # noqa: S607
    return done.stdout.strip()


def configure(repo: Path) -> None:
    """Give the repository an identity, so commits work on any machine."""
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")


def write(repo: Path, relative: str, text: str) -> None:
    """Write a file of the repository, creating its folders."""
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def core(repo: Path) -> Path:
    """The core folder of a repository."""
    return repo / CORE_DIR


def version_of(repo: Path) -> str:
    """The core version in the work tree."""
    return (core(repo) / "VERSION").read_text().strip()


def init_upstream(tmp_path: Path) -> Path:
    """An upstream repository at core 0.1.0: a fake core with its manifest, and a host file."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    configure(repo)
    write(repo, ".gitignore", "__pycache__/\n.pytest_cache/\n")
    write(repo, "app/main.py", "HOST = 'upstream'\n")
    write(repo, f"{CORE_DIR}/VERSION", "0.1.0\n")
    write(repo, f"{CORE_DIR}/CHANGELOG.md", CHANGELOG)
    write(repo, f"{CORE_DIR}/feature.py", FEATURE)
    write(repo, f"{CORE_DIR}/tests/test_feature.py", "def test_feature() -> None:\n    assert True\n")
    write_manifest(core(repo))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "initial")
    return repo


def add_changelog_entry(repo: Path, version: str, sections: str) -> None:
    """Put an `(unreleased)` entry for `version` on top of the changelog, as upstream does before releasing."""
    path = core(repo) / "CHANGELOG.md"
    intro, first, rest = path.read_text().partition("## [")
    path.write_text(f"{intro}## [{version}] - (unreleased)\n\n{sections.strip()}\n\n{first}{rest}")


def release(repo: Path, version: str, sections: str, files: dict[str, str]) -> str:
    """Change core files, write the changelog entry and make the release; return its sha."""
    for relative, text in files.items():
        write(repo, f"{CORE_DIR}/{relative}", text)
    add_changelog_entry(repo, version, sections)
    return make_release(repo, version)


def clone_fork(upstream: Path, tmp_path: Path) -> Path:
    """A fork of `upstream`, whose remote is called `upstream`."""
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "--quiet", "--origin", "upstream", str(upstream), str(fork))
    configure(fork)
    return fork


def commit_all(repo: Path, message: str) -> None:
    """Commit every change in the work tree."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """An upstream repository at core 0.1.0."""
    return init_upstream(tmp_path)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """(upstream, fork, release shas): the fork was cloned at 0.1.0, then upstream released 0.2.0 and 0.3.0."""
    upstream = init_upstream(tmp_path)
    fork = clone_fork(upstream, tmp_path)
    shas = [
        release(
            upstream,
            "0.2.0",
            "### Added\n\n- `feature`: a better answer.",
            {"feature.py": FEATURE.replace("41", "42")},
        ),
        release(
            upstream,
            "0.3.0",
            "### Security\n\n- `feature`: the answer is checked.\n\n### Added\n\n- a migration.",
            {
                "checked.py": "CHECKED = True\n",
                "migrations/versions/0002_checked.py": "revision = '0002'\n",
            },
        ),
    ]
    return upstream, fork, shas


# --- versions and the changelog


def test_versions_compare_as_numbers_and_ignore_build_metadata() -> None:
    assert parse_version("0.10.0") > parse_version("0.9.9")
    assert parse_version("0.1.0+acme.1") == (0, 1, 0)
    with pytest.raises(ReleaseError):
        parse_version("0.2")


def test_a_changelog_entry_ends_at_the_next_release_and_knows_its_security_section() -> None:
    text = CHANGELOG.replace(
        "## [0.1.0]", "## [0.2.0] - (unreleased)\n\n### Security\n\n- fixed.\n\n## [0.1.0]"
    )
    entry = changelog_entry(text, "0.2.0")
    assert entry is not None
    assert entry.body == "### Security\n\n- fixed."
    assert entry.security
    assert entry.summary == "Security\n\n- fixed."
    older = changelog_entry(text, "0.1.0")
    assert older is not None
    assert not older.security
    assert changelog_entry(text, "0.3.0") is None


# --- making a release (upstream)


def test_a_release_is_one_commit_touching_only_the_core_with_the_trailer(upstream: Path) -> None:
    write(upstream, f"{CORE_DIR}/feature.py", FEATURE.replace("41", "42"))
    add_changelog_entry(upstream, "0.2.0", "### Security\n\n- `feature`: the right answer.")
    before = git(upstream, "rev-parse", "HEAD")

    sha = make_release(upstream, "0.2.0", today=date(2027, 3, 4))

    assert git(upstream, "rev-parse", "HEAD~1") == before
    touched = git(upstream, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).splitlines()
    assert sorted(touched) == [
        f"{CORE_DIR}/{name}" for name in ("CHANGELOG.md", "MANIFEST.json", "VERSION", "feature.py")
    ]
    assert git(upstream, "log", "-1", "--format=%s") == "core: release 0.2.0"
    assert git(upstream, "log", "-1", "--format=%(trailers:key=Core-Release,valueonly)") == "0.2.0"
    assert "Security\n\n- `feature`: the right answer." in git(upstream, "log", "-1", "--format=%b")
    assert version_of(upstream) == "0.2.0"
    assert "## [0.2.0] - 2027-03-04\n" in (core(upstream) / "CHANGELOG.md").read_text()
    assert check_manifest(core(upstream)).clean
    assert git(upstream, "status", "--porcelain") == ""


def test_a_release_that_only_bumps_the_version_is_allowed(upstream: Path) -> None:
    add_changelog_entry(upstream, "0.1.1", "### Changed\n\n- nothing but the number.")
    make_release(upstream, "0.1.1")
    assert version_of(upstream) == "0.1.1"


def test_a_release_refuses_a_missing_changelog_entry(upstream: Path) -> None:
    head = git(upstream, "rev-parse", "HEAD")
    with pytest.raises(ReleaseError, match=r"no entry for 0\.2\.0"):
        make_release(upstream, "0.2.0")
    assert git(upstream, "rev-parse", "HEAD") == head
    assert version_of(upstream) == "0.1.0"


@pytest.mark.parametrize(
    ("version", "reason"), [("0.1.0", "not newer"), ("0.0.9", "not newer"), ("0.2.0+acme.1", "X.Y.Z")]
)
def test_a_release_refuses_a_version_that_is_not_a_newer_release(
    upstream: Path, version: str, reason: str
) -> None:
    add_changelog_entry(upstream, version, "### Added\n\n- something.")
    head = git(upstream, "rev-parse", "HEAD")
    with pytest.raises(ReleaseError, match=reason):
        make_release(upstream, version)
    assert git(upstream, "rev-parse", "HEAD") == head
    assert version_of(upstream) == "0.1.0"


def test_a_release_refuses_changes_outside_the_core(upstream: Path) -> None:
    add_changelog_entry(upstream, "0.2.0", "### Added\n\n- something.")
    write(upstream, "app/main.py", "HOST = 'edited'\n")
    with pytest.raises(ReleaseError, match=r"app/main\.py"):
        make_release(upstream, "0.2.0")
    assert version_of(upstream) == "0.1.0"


# --- pending releases (fork)


def test_pending_lists_the_releases_oldest_first_with_their_changelog(
    repos: tuple[Path, Path, list[str]],
) -> None:
    _, fork, shas = repos
    releases = pending(fork)
    assert [(r.version, r.sha, r.security) for r in releases] == [
        ("0.2.0", shas[0], False),
        ("0.3.0", shas[1], True),
    ]
    assert releases[0].summary == "Added\n\n- `feature`: a better answer."


def test_pending_security_only_keeps_the_releases_with_a_security_section(
    repos: tuple[Path, Path, list[str]],
) -> None:
    _, fork, _ = repos
    assert [r.version for r in pending(fork, security_only=True)] == ["0.3.0"]


def test_pending_compares_without_the_forks_build_metadata(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    write(fork, f"{CORE_DIR}/VERSION", "0.2.0+acme.1\n")
    assert [r.version for r in pending(fork)] == ["0.3.0"]


def test_pending_falls_back_to_main_when_the_remote_has_no_head(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    git(fork, "remote", "set-head", "upstream", "--delete")
    assert [r.version for r in pending(fork)] == ["0.2.0", "0.3.0"]


def test_pending_exits_1_when_releases_are_pending_and_0_when_none(
    repos: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, fork, shas = repos
    assert main(["--repo", str(fork), "pending"]) == 1
    out = capsys.readouterr().out
    assert f"0.2.0  {shas[0][:12]}\n" in out
    assert f"0.3.0  {shas[1][:12]}  [security]\n" in out
    assert "    - `feature`: the answer is checked." in out
    assert out.index("0.2.0  ") < out.index("0.3.0  ")

    assert main(["--repo", str(fork), "apply", "0.2.0", "--no-tests"]) == 0
    assert main(["--repo", str(fork), "pending", "--security"]) == 1
    assert main(["--repo", str(fork), "apply", "--all", "--no-tests"]) == 0
    capsys.readouterr()
    assert main(["--repo", str(fork), "pending"]) == 0
    assert "no releases pending" in capsys.readouterr().out


# --- applying releases (fork)


def test_apply_takes_both_releases_cleanly_while_the_fork_has_edited_host_files(
    repos: tuple[Path, Path, list[str]],
) -> None:
    _, fork, shas = repos
    write(fork, "app/main.py", "HOST = 'acme'\n")
    write(fork, "app/acme.py", "ACME = True\n")
    commit_all(fork, "acme: our own host code")

    result = apply(fork, run_tests=False)

    assert result.ok, report_lines(result)
    assert [r.version for r in result.applied] == ["0.2.0", "0.3.0"]
    assert result.conflict is None
    assert result.manifest_clean
    assert result.status == ["security core 0.3.0: clean"]
    assert result.migrations == [f"{CORE_DIR}/migrations/versions/0002_checked.py"]
    assert result.tests_passed is None
    assert version_of(fork) == "0.3.0"
    assert (fork / "app/main.py").read_text() == "HOST = 'acme'\n"
    assert f"(cherry picked from commit {shas[1]})" in git(fork, "log", "-1", "--format=%b")
    assert git(fork, "status", "--porcelain") == ""
    assert pending(fork) == []


def test_apply_of_a_version_applies_only_up_to_it(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    result = apply(fork, "0.2.0", run_tests=False)
    assert [r.version for r in result.applied] == ["0.2.0"]
    assert version_of(fork) == "0.2.0"
    assert [r.version for r in pending(fork)] == ["0.3.0"]


def test_apply_refuses_a_version_that_is_not_pending(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    with pytest.raises(ReleaseError, match=r"0\.9\.0 is not a pending release \(pending: 0\.2\.0, 0\.3\.0\)"):
        apply(fork, "0.9.0", run_tests=False)


@pytest.mark.parametrize(
    ("relative", "text"), [("app/main.py", "HOST = 'wip'\n"), ("notes.txt", "untracked\n")]
)
def test_apply_refuses_a_dirty_work_tree(
    repos: tuple[Path, Path, list[str]], relative: str, text: str
) -> None:
    _, fork, _ = repos
    head = git(fork, "rev-parse", "HEAD")
    write(fork, relative, text)
    with pytest.raises(ReleaseError, match="not clean"):
        apply(fork, run_tests=False)
    assert git(fork, "rev-parse", "HEAD") == head


def test_apply_stops_on_a_conflict_and_abort_restores_the_fork(
    repos: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, fork, _ = repos
    # The fork edited the very line 0.2.0 changes, and marked its version as its own.
    write(fork, f"{CORE_DIR}/feature.py", FEATURE.replace("41", "40"))
    write(fork, f"{CORE_DIR}/VERSION", "0.1.0+acme.1\n")
    write_manifest(core(fork))
    commit_all(fork, "acme: our answer")
    head = git(fork, "rev-parse", "HEAD")

    assert main(["--repo", str(fork), "apply", "--all", "--no-tests"]) == 1

    out = capsys.readouterr().out
    assert "CONFLICT applying core 0.2.0" in out
    assert f"  {CORE_DIR}/feature.py\n" in out
    assert f"git add {CORE_DIR}/" in out
    assert "&& git cherry-pick --continue" in out
    assert "  git cherry-pick --abort" in out
    assert "applied" not in out
    assert "OK" not in out.splitlines()
    assert f"{CORE_DIR}/feature.py" in git(fork, "diff", "--name-only", "--diff-filter=U")
    assert main(["--repo", str(fork), "apply", "--all", "--no-tests"]) == 2  # refused mid-cherry-pick

    git(fork, "cherry-pick", "--abort")
    assert git(fork, "rev-parse", "HEAD") == head
    assert git(fork, "status", "--porcelain", "--untracked-files=all") == ""
    assert (core(fork) / "feature.py").read_text() == FEATURE.replace("41", "40")


def test_apply_runs_the_core_tests_and_reports_them(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    result = apply(fork, "0.2.0")
    assert result.tests_passed is True
    assert result.ok
    assert "core tests: passed" in report_lines(result)


def test_apply_is_not_ok_when_the_core_tests_fail_or_the_core_drifts(
    repos: tuple[Path, Path, list[str]],
) -> None:
    _, fork, _ = repos
    write(fork, f"{CORE_DIR}/tests/test_local.py", "def test_local() -> None:\n    raise AssertionError\n")
    commit_all(fork, "acme: a failing local test, without regenerating the manifest")

    result = apply(fork, "0.2.0")

    assert [r.version for r in result.applied] == ["0.2.0"]
    assert result.tests_passed is False
    assert not result.manifest_clean
    assert not result.ok
    lines = report_lines(result)
    assert "core tests: FAILED" in lines
    assert "  added: tests/test_local.py" in lines
    assert lines[-1] == "NOT OK: see above"


def test_apply_with_nothing_pending_changes_nothing(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    apply(fork, run_tests=False)
    head = git(fork, "rev-parse", "HEAD")
    result = apply(fork, run_tests=False)
    assert result.ok
    assert result.applied == []
    assert git(fork, "rev-parse", "HEAD") == head


def test_apply_needs_a_version_or_all(repos: tuple[Path, Path, list[str]]) -> None:
    _, fork, _ = repos
    assert main(["--repo", str(fork), "apply", "--no-tests"]) == 2
    assert main(["--repo", str(fork), "apply", "0.2.0", "--all", "--no-tests"]) == 2
    assert version_of(fork) == "0.1.0"
