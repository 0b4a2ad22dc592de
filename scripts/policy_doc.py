"""Write the table of security numbers in docs/security-posture.md from app/auth/core/policy.py.

    python scripts/policy_doc.py          # rewrite the table
    python scripts/policy_doc.py --check  # exit 1 if the table is out of date (the tests run this)

`SecurityPolicy` and its field docstrings are the single source: `describe()` lists every field
with its default and its explanation, and this script puts them between the markers
`<!-- policy:start -->` and `<!-- policy:end -->`. Nobody edits the table by hand; the prose
around it is written by hand and left alone.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security-posture.md"
START, END = "<!-- policy:start -->", "<!-- policy:end -->"

if str(ROOT) not in sys.path:  # run as `python scripts/policy_doc.py` from anywhere
    sys.path.insert(0, str(ROOT))

from app.auth.core.policy import describe  # noqa: E402 (needs the path set above)

Row = tuple[str, str, str]


def _value(text: str) -> str:
    # describe() says "1 days" for a whole day; the docs say it the way people do.
    return re.sub(r"^1 days$", "1 day", text)


def policy_table(rows: list[Row]) -> str:
    """The Markdown table: one row per `SecurityPolicy` field, in declaration order."""
    lines = ["| policy field | default | what it governs |", "|---|---|---|"]
    for name, value, explanation in rows:
        shown, doc = (text.replace("|", "\\|") for text in (_value(value), explanation))
        lines.append(f"| `{name}` | {shown} | {doc} |")
    return "\n".join(lines)


def render(doc: str, table: str) -> str:
    """The document with the text between the markers replaced by `table`."""
    if doc.count(START) != 1 or doc.count(END) != 1 or doc.index(START) > doc.index(END):
        raise ValueError(f"{DOC.name} must contain {START} followed by {END}, once each")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    """Rewrite or check the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether the table is current")
    args = parser.parse_args()
    if not DOC.exists():
        print(f"{DOC} does not exist; write it with the two markers first", file=sys.stderr)
        return 1
    current = DOC.read_text()
    try:
        wanted = render(current, policy_table(describe()))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        if wanted != current:
            print(f"{DOC.name} is out of date: run `python scripts/policy_doc.py`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted)
        print(f"wrote {DOC.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
