"""Settings: production refuses weak secrets; every setting is documented where users look."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
STRONG = "s" * 48


@pytest.fixture(autouse=True)
def no_deployment_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build Settings from scratch: the environment CI runs in must not leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def prod(**values: object) -> Settings:
    return Settings(_env_file=None, app_env="prod", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [None, "", "changeme", "secret", "short-but-random-Xy7"])
def test_production_refuses_to_start_without_a_strong_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        prod(secret_key=secret, database_url="postgresql://db/app")


def test_production_needs_a_database_url() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        prod(secret_key=STRONG)


def test_production_defaults_are_the_safe_ones() -> None:
    settings = prod(secret_key=STRONG, database_url="postgresql://db/app", base_url="https://app.example.com")
    assert settings.cookies_secure
    assert settings.effective_mail_backend == "smtp"
    assert not settings.dev_tools_enabled
    assert not settings.run_worker_in_process
    assert settings.logs_as_json
    assert settings.hosts == ["app.example.com"]


def test_base_url_must_be_absolute() -> None:
    with pytest.raises(ValidationError, match="BASE_URL"):
        Settings(_env_file=None, app_env="dev", base_url="app.example.com")  # type: ignore[call-arg]


def test_database_url_is_adapted_for_each_driver() -> None:
    settings = Settings(_env_file=None, app_env="dev", database_url="postgres://u@h:5432/db?sslmode=require")  # type: ignore[call-arg]
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u@h:5432/db?sslmode=require"
    assert settings.psycopg_url == "postgresql://u@h:5432/db?sslmode=require"


GOOGLE = {"key": "google", "client_id": "id.apps.example"}


def test_production_refuses_a_provider_without_its_secret() -> None:
    with pytest.raises(ValidationError, match="OAUTH_PROVIDERS: provider 'google' has no client_secret"):
        prod(secret_key=STRONG, database_url="postgresql://db/app", oauth_providers=[GOOGLE])


def test_production_refuses_a_provider_reached_without_https() -> None:
    corp = {"key": "corp", "client_id": "x", "client_secret": "y", "issuer": "http://id.example.com"}
    with pytest.raises(ValidationError, match="must use https"):
        prod(secret_key=STRONG, database_url="postgresql://db/app", oauth_providers=[corp])


@pytest.mark.parametrize(
    "entry",
    [
        {"key": "Google!", "client_id": "x", "client_secret": "y", "preset": "google"},
        {"key": "corp", "client_id": "x", "client_secret": "y"},  # neither a preset nor an issuer
        {"key": "ms", "client_id": "x", "client_secret": "y", "preset": "microsoft", "tenant": "contoso.com"},
        {
            "key": "corp",
            "client_id": "x",
            "client_secret": "y",
            "issuer": "https://i.example",
            "scopes": ["email"],
        },
    ],
    ids=["bad-key", "no-issuer", "bad-tenant", "no-openid-scope"],
)
def test_a_provider_that_cannot_work_stops_the_app_in_any_environment(entry: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="OAUTH_PROVIDERS"):
        Settings(_env_file=None, app_env="dev", oauth_providers=[entry])  # type: ignore[call-arg]


def test_outside_production_a_provider_without_its_secret_is_left_out() -> None:
    github = {"key": "github", "client_id": "x", "client_secret": "y"}
    settings = Settings(_env_file=None, app_env="dev", oauth_providers=[GOOGLE, github])  # type: ignore[call-arg]
    assert [provider.key for provider in settings.oauth_provider_list] == ["github"]


def test_providers_are_read_from_one_json_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_PROVIDERS", '[{"key": "microsoft", "client_id": "x", "client_secret": "y"}]')
    [microsoft] = Settings(_env_file=None, app_env="dev").oauth_provider_list  # type: ignore[call-arg]
    assert microsoft.issuer == "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert microsoft.discovery_url.endswith("/common/v2.0/.well-known/openid-configuration")


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    documented = set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", text))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"{document} does not mention {sorted(missing)}"


def test_generated_configuration_docs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/settings_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_app_has_no_side_effects(tmp_path: Path) -> None:
    # No settings, no database, no network: importing must still succeed and do nothing.
    result = subprocess.run(
        [sys.executable, "-c", "import app.asgi, app.worker, app.models; print('ok')"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
