"""Delete an optional feature's code from a fork: `python scripts/remove_feature.py orgs`.

Switching a feature off (`FEATURE_ORGS=false`) keeps its code; this removes it for good, in the
working tree (commit the result like any change; `git diff` shows what went). For the feature and
every feature that needs it (`app.features.dependents_of`: removing orgs removes the API and
webhooks too) it:

1. deletes the folders and files its registry entry lists in `paths` (host code, templates,
   tests, the host migrations of its tables, re-parenting any migration that came after one);
2. deletes every fenced block of code that exists for it elsewhere, in Python and templates:

       # --- feature: orgs
       ...
       # --- end feature: orgs

   (its registry entry in `app/features.py` is such a block, so it is gone from the registry too);
3. turns its `FEATURE_*` setting's default off, so an old `.env` cannot switch on code that is
   gone (`check_features` refuses a removed feature that is switched on), and rewrites the
   configuration docs (`scripts/settings_doc.py`).

The vendored security core (`app/auth/core`) is never touched: its tables and migrations stay, and
a later core release still applies. The script stops, changing nothing, if the checkout still
imports a module it would delete from somewhere it would not.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = Path("app/auth/core")
SELF = Path("scripts/remove_feature.py")  # its docstring shows a fence
SKIP_DIRS = {
    ".git",
    ".venv",
    ".dev",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}
FENCED_SUFFIXES = {".py", ".html", ".txt", ".toml", ".cfg", ".ini"}
FENCE = re.compile(r"^\s*(?:#|\{#)\s*--- (end )?feature: (\w+)")
REVISION = re.compile(r'^revision(?::\s*str)?\s*=\s*"(\w+)"', re.MULTILINE)
DOWN_REVISION = re.compile(r'^(down_revision(?::\s*[\w| ]+)?\s*=\s*)("\w+"|None)', re.MULTILINE)


def load_registry(root: Path) -> tuple[dict[str, object], object]:
    """`FEATURES` and `dependents_of` of the checkout at `root`."""
    sys.path.insert(0, str(root))
    from app.features import FEATURES, dependents_of

    return FEATURES, dependents_of  # type: ignore[return-value]


def text_files(root: Path) -> list[Path]:
    """Files whose fenced blocks may belong to a feature (never the vendored core)."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if set(relative.parts) & SKIP_DIRS or relative.is_relative_to(CORE) or relative == SELF:
            continue
        if path.is_file() and (path.suffix in FENCED_SUFFIXES or path.name == "Makefile"):
            found.append(path)
    return sorted(found)


def strip_fences(text: str, names: set[str]) -> str:
    """`text` without the fenced blocks of `names` (fence lines included)."""
    kept: list[str] = []
    inside: str | None = None
    for line in text.splitlines(keepends=True):
        match = FENCE.match(line)
        if match and match.group(2) in names:
            is_end, name = bool(match.group(1)), match.group(2)
            if inside is None and not is_end:
                inside = name
            elif inside == name and is_end:
                inside = None
            elif inside is None:
                raise SystemExit(f"an end fence without its start: {line.strip()!r}")
            continue  # a fence nested in a block being removed goes with it
        if inside is None:
            kept.append(line)
    if inside is not None:
        raise SystemExit(f"fence for {inside!r} is never closed")
    return "".join(kept)


def module_of(path: str) -> str | None:
    """`app.widgets` for `app/widgets` or `app.widgets.x` for `app/widgets/x.py`; None for what
    Python does not import."""
    if path.endswith(".py"):
        path = path.removesuffix(".py")
    elif "." in Path(path).name:
        return None
    if not path.startswith(("app/", "tests/", "scripts/")):
        return None
    return path.replace("/", ".")


def removed_migrations(root: Path, paths: list[str]) -> dict[str, str]:
    """revision → down_revision of the migration files about to be deleted."""
    chain = {}
    for path in paths:
        file = root / path
        if file.is_file() and file.parent.name == "versions":
            text = file.read_text()
            revision, down = REVISION.search(text), DOWN_REVISION.search(text)
            if revision and down:
                chain[revision.group(1)] = down.group(2)
    return chain


def reparent(root: Path, chain: dict[str, str]) -> list[Path]:
    """Point migrations that followed a deleted one at the deleted one's parent."""
    changed = []
    for file in sorted((root / "migrations" / "versions").glob("*.py")):
        text = file.read_text()
        down = DOWN_REVISION.search(text)
        if not down:
            continue
        parent = down.group(2)
        while parent.strip('"') in chain:
            parent = chain[parent.strip('"')]
        if parent != down.group(2):
            file.write_text(text[: down.start(2)] + parent + text[down.end(2) :])
            changed.append(file)
    return changed


def switch_off(root: Path, names: list[str]) -> None:
    """Make each removed feature's setting default to off, and say why in its docstring."""
    settings = root / "app" / "settings.py"
    text = settings.read_text()
    for name in names:
        text, count = re.subn(
            rf'(    feature_{name}: bool = )True\n    """',
            r'\1False\n    """Removed from this fork (scripts/remove_feature.py); must stay off. Was: ',
            text,
        )
        if count != 1:
            raise SystemExit(f"app/settings.py has no `feature_{name}: bool = True` to switch off")
    settings.write_text(text)


def record_removal(root: Path, removed: dict[str, tuple[str, ...]]) -> None:
    """Add the removed features and their paths to `REMOVED` in `app/features.py`."""
    registry = root / "app" / "features.py"
    text = registry.read_text()
    start = "REMOVED: dict[str, tuple[str, ...]] = {"
    if start not in text:
        raise SystemExit("app/features.py has no `REMOVED` mapping to record the removal in")
    entries = "".join(f"    {name!r}: {tuple(paths)!r},\n" for name, paths in removed.items())
    text = text.replace(start + "}", start + "\n}", 1).replace(start + "\n", start + "\n" + entries, 1)
    registry.write_text(text)


def leftover_imports(root: Path, modules: list[str], deleted: list[str]) -> list[str]:
    """`file: module` for each kept file that still mentions a module being deleted."""
    problems = []
    for file in text_files(root):
        relative = file.relative_to(root).as_posix()
        if file.suffix != ".py" or any(relative == d or relative.startswith(d + "/") for d in deleted):
            continue
        text = file.read_text()
        for module in modules:
            if re.search(rf"\b{re.escape(module)}\b", text):
                problems.append(f"{relative}: {module}")
    return problems


def remove(root: Path, name: str, *, dry_run: bool = False) -> list[str]:
    """Remove feature `name` and its dependents from the checkout at `root`; their names."""
    features, dependents_of = load_registry(root)
    if name not in features:
        raise SystemExit(f"no feature {name!r} here (features: {', '.join(sorted(features))})")
    names = [name, *dependents_of(name)]  # type: ignore[operator]
    paths = sorted({path for n in names for path in features[n].paths})  # type: ignore[attr-defined]
    for path in paths:
        if Path(path).is_relative_to(CORE):
            raise SystemExit(f"{path} is in the vendored core, which a fork never edits")
    stripped = {file: strip_fences(file.read_text(), set(names)) for file in text_files(root)}
    modules = [m for m in (module_of(p) for p in paths) if m]
    # Check on the tree as it will be: the fenced blocks gone, the listed paths gone.
    problems = [
        problem
        for problem in leftover_imports(root, modules, paths)
        if problem.split(": ")[1] in stripped[root / problem.split(": ")[0]]
    ]
    if problems:
        raise SystemExit(
            "still used after removal (fence it or list it in paths):\n  " + "\n  ".join(problems)
        )
    print(f"removing {', '.join(names)}")
    if dry_run:
        print("\n".join(f"  delete {p}" for p in paths if (root / p).exists()))
        return names
    chain = removed_migrations(root, paths)
    for file, text in stripped.items():
        if text != file.read_text():
            file.write_text(text)
            print(f"  edited {file.relative_to(root)}")
    for path in paths:
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            continue
        print(f"  deleted {path}")
    for file in reparent(root, chain):
        print(f"  re-parented {file.relative_to(root)}")
    switch_off(root, names)
    record_removal(root, {n: features[n].paths for n in names})  # type: ignore[attr-defined]
    subprocess.run([sys.executable, "scripts/settings_doc.py"], cwd=root, check=True)
    tidy(root)
    return names


def tidy(root: Path) -> None:
    """Imports only a removed block used, blank lines a block left: what `make fmt` does."""
    folders = [name for name in ("app", "tests", "e2e", "scripts", "migrations") if (root / name).exists()]
    for command in (["check", "--fix", "--unsafe-fixes", "--quiet"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *command, *folders], cwd=root, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feature", help="the feature's name in app/features.py, e.g. orgs")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to change (default: this one)")
    parser.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    args = parser.parse_args()
    remove(args.root.resolve(), args.feature, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
