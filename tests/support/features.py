"""The suite under FEATURE_* switches: `GATEHOUSE_FEATURES=minimal make test-minimal`.

GATEHOUSE_FEATURES is `default` (unset: every feature on), `minimal` (every optional feature off),
or a comma-separated list of the features to keep on (`orgs,admin`). `make_settings` builds the
test app with those switches, and the tests of a feature that is off are deselected, not skipped:
they are not counted as run, and everything else really runs against the smaller app.

A test file belongs to the features `TEST_FEATURES` names for its path (the longest matching
prefix wins); a single test elsewhere says `@pytest.mark.needs_features("orgs")`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.features import FEATURES

ROOT = Path(__file__).resolve().parents[2]

TEST_FEATURES: dict[str, tuple[str, ...]] = {
    # --- feature: orgs
    "tests/orgs/": ("orgs",),
    "tests/admin/test_orgs.py": ("admin", "orgs"),
    "e2e/test_orgs.py": ("orgs",),
    "e2e/test_projects.py": ("orgs",),
    "e2e/test_domains.py": ("orgs",),
    "e2e/test_org_audit.py": ("orgs",),
    # --- end feature: orgs
    # --- feature: admin
    "tests/admin/": ("admin",),
    "e2e/test_admin.py": ("admin",),
    # --- end feature: admin
    # --- feature: api
    "tests/api/": ("api",),
    "app/auth/core/tests/test_api_tokens.py": ("api",),
    "e2e/test_api_tokens.py": ("api",),
    # --- end feature: api
    # --- feature: webhooks
    "tests/api/test_webhooks.py": ("api", "webhooks"),
    # --- end feature: webhooks
    # --- feature: passkeys
    "tests/auth/test_passkeys.py": ("passkeys",),
    "e2e/test_passkeys.py": ("passkeys",),
    # --- end feature: passkeys
    # --- feature: totp
    "tests/auth/test_two_factor_settings.py": ("totp",),
    "e2e/test_two_factor.py": ("totp",),
    # --- end feature: totp
    # --- feature: oauth
    "tests/auth/test_oauth.py": ("oauth",),
    "tests/auth/test_oauth_linking.py": ("oauth",),
    "tests/auth/test_oauth_settings.py": ("oauth",),
    "tests/admin/test_impersonation_providers.py": ("admin", "oauth"),
    "e2e/test_oauth.py": ("oauth",),
    # --- end feature: oauth
    # --- feature: magic_link
    "tests/auth/test_magic_link.py": ("magic_link",),
    # --- end feature: magic_link
}
"""Test paths (relative to the checkout) and the features their tests need."""


def features_under_test() -> frozenset[str]:
    """The features GATEHOUSE_FEATURES keeps on."""
    choice = os.environ.get("GATEHOUSE_FEATURES", "default").strip()
    if choice in {"", "default"}:
        return frozenset(FEATURES)
    if choice == "minimal":
        return frozenset()
    chosen = frozenset(name.strip() for name in choice.split(",") if name.strip())
    unknown = chosen - set(FEATURES)
    if unknown:
        raise pytest.UsageError(f"GATEHOUSE_FEATURES names no such feature: {', '.join(sorted(unknown))}")
    return chosen


def feature_settings() -> dict[str, bool]:
    """`feature_*` values for `make_settings` under GATEHOUSE_FEATURES."""
    on = features_under_test()
    return {feature.setting: feature.name in on for feature in FEATURES.values()}


def features_of(item: pytest.Item) -> set[str]:
    """The features a collected test needs: its file's entry and its `needs_features` marks."""
    path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
    needed: set[str] = set()
    matches = [prefix for prefix in TEST_FEATURES if path == prefix or path.startswith(prefix)]
    if matches:
        needed.update(TEST_FEATURES[max(matches, key=len)])
    for mark in item.iter_markers("needs_features"):
        needed.update(mark.args)
    return needed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_features(*names): runs only when these FEATURE_* are on")


def pytest_report_header(config: pytest.Config) -> str:
    on = features_under_test()
    return f"features: {', '.join(sorted(on)) or 'none (minimal)'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests of switched-off features (reported as "deselected", never as passed)."""
    on = features_under_test()
    keep, drop = [], []
    for item in items:
        (keep if features_of(item) <= on else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"features: deselected {len(drop)} tests of switched-off features")
