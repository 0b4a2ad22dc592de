"""`scripts/remove_feature.py orgs` on a copy of the checkout leaves an app that builds, migrates
and passes a cross-section of its tests (docs/features.md says how to run the copy's whole suite)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.embedded_pg import ensure_database, with_database
from tests.support.database import scratch_database_name, server_url

ROOT = Path(__file__).resolve().parent.parent
# A cross-section of what remains, kept to a couple of minutes: settings and their docs, migrations
# against the models, a registration into the org-less landing, an account deletion, the switches
# of what is left.
REPRESENTATIVE = (
    "tests/test_settings.py",
    "tests/test_migrations.py::test_models_and_migrations_do_not_differ",
    "tests/auth/test_registration.py::test_confirming_with_the_code_signs_in_on_this_browser",
    "tests/auth/test_account_deletion.py::test_deletion_ends_the_sessions_and_an_unused_reset_link",
    "tests/test_features.py::test_the_minimal_app_signs_up_into_account_settings_and_links_no_missing_page",
    "tests/test_features.py::test_switching_on_a_removed_feature_stops_the_app",
)

pytestmark = [pytest.mark.needs_features("orgs"), pytest.mark.timeout(600), pytest.mark.heavy(seconds=25)]


def copy_checkout(target: Path) -> None:
    """The files git would commit (tracked and new, not ignored), as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(copy: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 120) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=copy,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def without_orgs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout with organizations (and the API and webhooks that need them) removed."""
    copy = tmp_path_factory.mktemp("fork")
    copy_checkout(copy)
    output = run(copy, "scripts/remove_feature.py", "orgs")
    assert "removing orgs, api, webhooks" in output
    return copy


def test_the_feature_and_its_dependents_are_gone(without_orgs: Path) -> None:
    for path in ("app/orgs", "app/projects", "app/api", "templates/orgs", "tests/orgs", "tests/api"):
        assert not (without_orgs / path).exists(), path
    assert not list((without_orgs / "migrations" / "versions").glob("*2b176f224295*"))
    assert (without_orgs / "app/auth/core/orgs.py").exists(), "the vendored core stays whole"
    features = (without_orgs / "app/features.py").read_text()
    assert 'name="orgs"' not in features
    assert 'name="admin"' in features
    assert "feature_orgs: bool = False" in (without_orgs / "app/settings.py").read_text()
    leftovers = subprocess.run(
        ["grep", "-rlE", r"app\.(orgs|projects|api)\b", "app", "tests", "scripts", "migrations"],
        cwd=without_orgs,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert [path for path in leftovers if not path.startswith("app/auth/core/")] == []


def test_the_copy_builds_migrates_and_passes_its_tests(without_orgs: Path) -> None:
    server = server_url()
    name = scratch_database_name(server, "fork")
    ensure_database(with_database(server, "postgres"), name, recreate=True)
    database = with_database(server, name)
    built = run(
        without_orgs,
        "-c",
        "from app.asgi import create_app; from app.settings import Settings;"
        f"app = create_app(Settings(_env_file=None, app_env='test', database_url={database!r}));"
        "print(sorted(route.path for route in app.routes))",
    )
    assert "/settings/profile" in built
    assert "/orgs" not in built
    assert "/api/v1" not in built
    run(without_orgs, "-m", "alembic", "upgrade", "heads", env={"DATABASE_URL": database})
    run(
        without_orgs,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        *REPRESENTATIVE,
        env={"DATABASE_URL": server, "TEST_DATABASE_NAME": f"{name}_test", "GATEHOUSE_FEATURES": "default"},
        timeout=600,
    )
