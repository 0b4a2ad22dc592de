"""Shared pytest fixtures for `tests/`, `app/auth/core/tests/` and `e2e/` (see tests/support/)."""

import os

# pgserver looks for a runtime directory; give it one instead of a warning.
os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")

pytest_plugins = [
    "tests.support.features",
    "tests.support.dns_server",
    "tests.support.database",
    "tests.support.web",
    "tests.support.mail",
    "tests.support.accounts",
    "tests.support.redis",
    "tests.support.oidc_provider",
]
