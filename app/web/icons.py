"""Interface icons: the vendored Lucide SVGs (static/vendor/lucide/), read once and inlined.

`{{ icon("users") }}` in a template gives the icon's `<svg>`, decorative (`aria-hidden`), sized by
CSS (`.icon`, 1em by default) and drawn in the text colour. Inline, so the Content-Security-Policy
needs no new source and the icon follows the theme. An unknown name fails loudly at render time.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from markupsafe import Markup

ICONS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "lucide"
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_OPENING = re.compile(r"<svg\b[^>]*>", re.S)
_OPENING_TAG = (
    '<svg class="icon icon-{name}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
    'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
    'aria-hidden="true" focusable="false">'
)


@cache
def _icons() -> dict[str, str]:
    """Every vendored icon by name, its comment dropped and its `<svg>` tag made ours."""
    icons = {}
    for path in sorted(ICONS.glob("*.svg")):
        body = " ".join(_COMMENT.sub("", path.read_text()).split())
        icons[path.stem] = _OPENING.sub(_OPENING_TAG.format(name=path.stem), body, count=1)
    return icons


def icon(name: str) -> Markup:
    """The inline SVG of the vendored icon `name`."""
    try:
        return Markup(_icons()[name])  # noqa: S704 (our own vendored files, checked by scripts/vendor_icons.py)
    except KeyError:
        raise LookupError(f"no vendored icon {name!r}: add it with scripts/vendor_icons.py add {name}") from None
