"""The core's manifest is current, drift is detected, and the core never imports the rest of the app."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from app.auth.core.manifest import (
    CORE_ROOT,
    MANIFEST_NAME,
    build_manifest,
    check_manifest,
    main,
    read_version,
    write_manifest,
)

CORE_PACKAGE = ("app", "auth", "core")


@pytest.fixture
def core_copy(tmp_path: Path) -> Path:
    """A copy of the core with a freshly written manifest."""
    root = tmp_path / "core"
    shutil.copytree(CORE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    write_manifest(root)
    return root


def test_the_committed_manifest_matches_the_core_files() -> None:
    drift = check_manifest(CORE_ROOT)
    assert drift.clean, (
        "app/auth/core changed without regenerating its manifest; run `make core-manifest` "
        f"(and bump VERSION + CHANGELOG.md when releasing). changed={drift.changed} "
        f"added={drift.added} removed={drift.removed}"
    )


def test_the_committed_manifest_carries_the_current_version() -> None:
    manifest = json.loads((CORE_ROOT / MANIFEST_NAME).read_text())
    assert manifest["version"] == read_version(CORE_ROOT)


def test_the_manifest_leaves_out_itself_and_bytecode(core_copy: Path) -> None:
    (core_copy / "__pycache__").mkdir(exist_ok=True)
    (core_copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (core_copy / "stray.pyc").write_bytes(b"\0")
    files = build_manifest(core_copy)["files"]
    assert MANIFEST_NAME not in files
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in files)
    assert "VERSION" in files
    assert "tests/__init__.py" in files


def test_the_manifest_is_stable_sorted_json_with_a_trailing_newline(core_copy: Path) -> None:
    first = (core_copy / MANIFEST_NAME).read_text()
    write_manifest(core_copy)
    assert (core_copy / MANIFEST_NAME).read_text() == first
    assert first.endswith("}\n")
    names = list(json.loads(first)["files"])
    assert names == sorted(names)


def test_a_fresh_manifest_is_clean(core_copy: Path) -> None:
    assert check_manifest(core_copy).clean


def test_an_edited_file_is_reported_as_changed(core_copy: Path) -> None:
    with (core_copy / "clock.py").open("a") as file:
        file.write("# local tweak\n")
    drift = check_manifest(core_copy)
    assert drift.changed == ["clock.py"]
    assert not drift.clean


def test_a_new_file_is_reported_as_added(core_copy: Path) -> None:
    (core_copy / "tests" / "test_local.py").write_text("")
    assert check_manifest(core_copy).added == ["tests/test_local.py"]


def test_a_deleted_file_is_reported_as_removed(core_copy: Path) -> None:
    (core_copy / "net.py").unlink()
    assert check_manifest(core_copy).removed == ["net.py"]


def test_check_exits_with_1_on_drift(monkeypatch: pytest.MonkeyPatch, core_copy: Path) -> None:
    monkeypatch.setattr("app.auth.core.manifest.CORE_ROOT", core_copy)
    assert main(["--check"]) == 0
    (core_copy / "net.py").unlink()
    assert main(["--check"]) == 1


# --- the core stands alone


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a core file, relative ones resolved."""
    package = [*CORE_PACKAGE, *path.relative_to(CORE_ROOT).parent.parts]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.ImportFrom):
            # `from .. import x` in app/auth/core/tests/ is app.auth.core; one more dot leaves the core.
            base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
            found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
    return found


def is_outside_core(module: str) -> bool:
    """True for a module of the host app (`app` but not `app.auth.core`)."""
    parts = tuple(module.split("."))
    return parts[0] == "app" and parts[:3] != CORE_PACKAGE


def test_the_core_never_imports_the_rest_of_the_app() -> None:
    offenders = [
        f"{path.relative_to(CORE_ROOT)}:{line} imports {module}"
        for path in sorted(CORE_ROOT.rglob("*.py"))
        for line, module in imported_modules(path)
        if is_outside_core(module) or not module
    ]
    assert not offenders, "core must not import the host app:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("source", "where", "outside"),
    [
        ("import app.settings", "x.py", True),
        ("from app import settings", "x.py", True),
        ("from app.auth import models", "x.py", True),
        ("from app.auth.core import clock", "x.py", False),
        ("from .clock import Clock", "x.py", False),
        ("from .. import models", "x.py", True),
        ("from ..clock import Clock", "tests/x.py", False),
        ("from ... import models", "tests/x.py", True),
        ("import hashlib", "x.py", False),
    ],
)
def test_the_import_check_sees_what_leaves_the_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, where: str, outside: bool
) -> None:
    monkeypatch.setattr(f"{__name__}.CORE_ROOT", tmp_path)
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source + "\n")
    modules = [module for _, module in imported_modules(path)]
    assert any(is_outside_core(module) for module in modules) is outside
