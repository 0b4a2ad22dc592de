"""Production hashes passwords at full cost; only the test environment may use the cheap profile [1]."""

from __future__ import annotations

import pytest

from app.auth.core.policy import DEFAULT_POLICY
from app.auth.security import build_security
from app.settings import Settings

STRONG = "p" * 48


async def test_production_settings_hash_with_the_owasp_grade_profile() -> None:
    settings = Settings(_env_file=None, app_env="prod", secret_key=STRONG, database_url="postgresql://db/app")  # type: ignore[call-arg]
    security = build_security(settings)
    assert security.policy.argon2 == DEFAULT_POLICY.argon2
    assert security.policy.argon2.meets_owasp_floor()
    stored = await security.hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_the_test_environment_gets_cheap_hashing(env: str) -> None:
    settings = Settings(_env_file=None, app_env=env, secret_key=STRONG, database_url="postgresql://db/app")  # type: ignore[call-arg]
    assert build_security(settings).policy.argon2.meets_owasp_floor()
