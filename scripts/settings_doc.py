"""Write the configuration table in README.md and the whole of .env.example from app/settings.py.

    python scripts/settings_doc.py          # rewrite both files
    python scripts/settings_doc.py --check  # exit 1 if either is out of date (the tests run this)

The field docstrings in `Settings` are the single source; nobody edits the table by hand.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "app" / "settings.py"
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
# Shown in .env.example as a working local setup rather than as the production default.
EXAMPLE_VALUES = {"APP_ENV": "dev", "SECRET_KEY": "", "DATABASE_URL": ""}


@dataclass(frozen=True)
class Setting:
    """One environment variable: name, default (as written in code) and explanation."""

    name: str
    default: str
    doc: str


def read_settings(source: str) -> list[Setting]:
    """The fields of `Settings` in declaration order, with their docstrings."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    found = []
    for node, following in zip(cls.body, [*cls.body[1:], None], strict=True):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        doc = ""
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            doc = " ".join(str(following.value.value).split())
        found.append(Setting(node.target.id.upper(), _default(node.value), doc))
    return found


def _default(value: ast.expr | None) -> str:
    if value is None:
        return ""
    if isinstance(value, ast.Call):  # Field(default_factory=list) or dict
        factory = next((k.value for k in value.keywords if k.arg == "default_factory"), None)
        return "{}" if isinstance(factory, ast.Name) and factory.id == "dict" else "[]"
    literal = ast.literal_eval(value)
    return "" if literal is None else str(literal).lower() if isinstance(literal, bool) else str(literal)


def readme_table(settings: list[Setting]) -> str:
    """The Markdown table for the README."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for s in settings:
        default = f"`{s.default}`" if s.default else "—"
        doc = s.doc.replace("|", "\\|")
        lines.append(f"| `{s.name}` | {default} | {doc} |")
    return "\n".join(lines)


def env_example(settings: list[Setting]) -> str:
    """The text of .env.example."""
    out = [
        "# Gatehouse configuration. Copy to .env (git-ignored) and adjust; real environment variables win.",
        "# Generated from app/settings.py by scripts/settings_doc.py: edit the docstrings there, not this file.",
        "",
    ]
    for s in settings:
        out.append(f"# {s.doc}")
        value = EXAMPLE_VALUES.get(s.name, s.default)
        prefix = "" if s.name in EXAMPLE_VALUES and value else "# "
        out.append(f"{prefix}{s.name}={value}")
        out.append("")
    return "\n".join(out)


def render_readme(readme: str, table: str) -> str:
    """README text with the table between the markers replaced."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    """Rewrite or check the generated files."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether the files are current")
    args = parser.parse_args()
    settings = read_settings(SETTINGS.read_text())
    wanted = {
        README: render_readme(README.read_text(), readme_table(settings)),
        ENV_EXAMPLE: env_example(settings),
    }
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is out of date: run `python scripts/settings_doc.py`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
