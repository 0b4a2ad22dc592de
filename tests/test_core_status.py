"""`litestar core status`: reports whether the vendored security core still matches its manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from litestar.cli._utils import LitestarGroup

from app.auth.core.manifest import CORE_ROOT, read_version, write_manifest
from app.cli import GatehouseCLI


@pytest.fixture
def core_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the core with a fresh manifest, standing in for the real one."""
    root = tmp_path / "core"
    shutil.copytree(CORE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    write_manifest(root)
    monkeypatch.setattr("app.auth.core.manifest.CORE_ROOT", root)
    return root


def core_status() -> Result:
    cli = LitestarGroup()
    GatehouseCLI().on_cli_init(cli)
    return CliRunner().invoke(cli, ["core", "status"])


def test_a_core_matching_its_manifest_is_clean(core_copy: Path) -> None:
    result = core_status()
    assert result.exit_code == 0
    assert result.output == f"security core {read_version(core_copy)}: clean\n"


def test_local_edits_are_listed_as_drift(core_copy: Path) -> None:
    (core_copy / "clock.py").write_text("# edited\n")
    (core_copy / "local.py").write_text("")
    (core_copy / "net.py").unlink()
    result = core_status()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"security core {read_version(core_copy)}: drift",
        "  changed: clock.py",
        "  added: local.py",
        "  removed: net.py",
    ]
