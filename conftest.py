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


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    config.addinivalue_line(
        "markers",
        "heavy(seconds): a module that takes about this long on an idle machine; it is started first",
    )


def pytest_collection_modifyitems(items) -> None:  # type: ignore[no-untyped-def]
    """Run the longest modules first, so no worker is left with one at the end of a parallel run.

    pytest-xdist (`--dist loadfile`) hands files to workers in collection order. A long module
    collected last (the route fuzzer lives in tests/web/) would run alone while the other workers
    sit idle; started first, it overlaps with everything else. The sort is stable and a module's
    tests share its marker, so each module stays in one piece and in its own order.
    """

    def weight(item) -> float:  # type: ignore[no-untyped-def]
        marker = item.get_closest_marker("heavy")
        return -float(marker.kwargs.get("seconds", 1)) if marker else 0.0

    items.sort(key=weight)
