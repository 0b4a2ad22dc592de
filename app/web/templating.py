"""Jinja setup: autoescaping templates from `templates/`, plus the few globals every page uses.

Static URLs carry a content hash (`/static/css/app.css?v=1a2b3c4d5e`), computed once at startup,
so browsers may cache the files for a year and still see a change on the next deploy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from app.auth.core.cookies import cookie_name
from app.auth.core.policy import SecurityPolicy
from app.features import enabled_names
from app.formatting import human_duration, initials, mixed_scripts
from app.web.flash import consume_flashes

if TYPE_CHECKING:
    from litestar import Request

    from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
THEMES = ("system", "light", "dark")
THEME_COOKIE = "theme"


def static_hashes(directory: Path = STATIC) -> dict[str, str]:
    """Short content hash of every file under `directory`, keyed by its path relative to it."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def current_theme(request: Request[Any, Any, Any]) -> str:
    """The theme the visitor chose (cookie), or `system` to follow their operating system."""
    secure = request.app.state.settings.cookies_secure
    theme = request.cookies.get(cookie_name(THEME_COOKIE, secure=secure), "system")
    return theme if theme in THEMES else "system"


def _nobody_impersonated(_request: Request[Any, Any, Any]) -> None:
    """Without the admin console nobody signs in as someone else: no banner."""


def build_template_config(settings: Settings, policy: SecurityPolicy) -> TemplateConfig[JinjaTemplateEngine]:
    """Template configuration with autoescape on for every template, including mail."""
    hashes = static_hashes()

    def static_url(path: str) -> str:
        # `make dev` reloads Python, not hashes: there the version follows the file's mtime.
        version = str((STATIC / path).stat().st_mtime_ns) if settings.is_dev else hashes.get(path)
        if version is None:
            raise LookupError(f"no static file {path!r}")
        return f"/static/{path}?v={version}"

    environment = Environment(
        # The vendored icons load as templates ("icons/<name>.svg", see partials/_icon.html): trusted
        # files included verbatim, so no string is ever marked safe in Python.
        loader=ChoiceLoader(
            [
                FileSystemLoader(TEMPLATES),
                PrefixLoader({"icons": FileSystemLoader(STATIC / "vendor" / "lucide")}),
            ]
        ),
        # Requirement 85: a hand-made Environment defaults to autoescape off; turn it on everywhere.
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=settings.is_dev,
    )
    environment.globals.update(
        app_name=settings.app_name,
        dev_tools=settings.dev_tools_enabled,
        static_url=static_url,
        current_theme=current_theme,
        consume_flashes=consume_flashes,
        themes=THEMES,
        policy=policy,
        # The FEATURE_* switches that are on, by name: `{% if "orgs" in features %}` (docs/features.md).
        features=enabled_names(settings),
        impersonating=_nobody_impersonated,
    )
    # --- feature: admin
    from app.admin.banner import impersonating

    environment.globals["impersonating"] = impersonating
    # --- end feature: admin
    environment.filters["duration"] = human_duration
    environment.filters["initials"] = initials
    environment.tests["mixed_scripts"] = mixed_scripts
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))
