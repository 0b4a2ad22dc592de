"""Fixtures for the browser tests: a live Granian server, Chromium settings, console and axe checks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from e2e.support import ConsoleWatcher, LiveServer, ServerStartError, assert_accessible
from tests.support.database import fresh_database
from tests.support.dns_server import DnsServer
from tests.support.features import feature_settings

# The machine has no internet: keep Chromium from calling home (and logging that it cannot).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Every test talks to one server from 127.0.0.1, and the default limits count per client address:
# 10 POSTs a minute to each auth endpoint and 20 mail-sending requests an hour. Raised so the whole
# suite fits; the per-recipient limit (5 mails an hour) stays, and each test keeps under it.
LIVE_SERVER_ENV = {
    "SECURITY_POLICY": json.dumps(
        {"ip_auth_posts_per_minute": 60, "emails_per_ip_per_hour": 200, "domain_check_min_interval": 1}
    ),
}


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, dns_server: DnsServer) -> Iterator[LiveServer]:
    """The app served by Granian on a free port, on a freshly migrated `<name>_e2e` database; its
    domain checks ask the test DNS server."""
    log_path = tmp_path_factory.mktemp("live_server") / "server.log"
    env = {**LIVE_SERVER_ENV, "DNS_NAMESERVERS": '["127.0.0.1"]', "DNS_PORT": str(dns_server.port)}
    # GATEHOUSE_FEATURES switches the live server's features like the in-process app's.
    env.update({name.upper(): str(on).lower() for name, on in feature_settings().items()})
    server = LiveServer.start(fresh_database("e2e"), log_path, env)
    try:
        server.wait_until_healthy()
    except ServerStartError as exc:
        server.stop()
        pytest.fail(
            f"live server did not start: {exc}\n--- {log_path} ---\n{server.log_tail()}", pytrace=False
        )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    """Relative URLs in `page.goto()` and friends resolve against the live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options plus quiet offline flags and, if set, the system Chromium."""
    args = {**browser_type_launch_args}
    args["args"] = [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]
    if executable := os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE"):
        args["executable_path"] = executable
    return args


@pytest.fixture(autouse=True)
def console_errors(request: pytest.FixtureRequest) -> Iterator[ConsoleWatcher]:
    """Fail the test at teardown if a watched page logged a console error or threw (CSP reports too)."""
    watcher = ConsoleWatcher()
    if "page" in request.fixturenames:  # tests that only use `no_js_page` get no idle extra page
        watcher.watch(request.getfixturevalue("page"))
    yield watcher
    watcher.assert_clean()


@pytest.fixture
def axe() -> Callable[[Page], None]:
    """`axe(page)` fails the test on serious or critical accessibility violations."""
    return assert_accessible


@pytest.fixture
def no_js_context(
    new_context: Callable[..., BrowserContext], console_errors: ConsoleWatcher
) -> BrowserContext:
    """A browser context with JavaScript off (base URL set, console watched, closed after the test)."""
    context = new_context(java_script_enabled=False)
    console_errors.watch_context(context)
    return context


@pytest.fixture
def no_js_page(no_js_context: BrowserContext) -> Page:
    """A page in the JavaScript-free context."""
    return no_js_context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """On a failure, show what the live server logged last (a 500's traceback is only there)."""
    report: pytest.TestReport = yield
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append((f"live server log ({server.log_path})", server.log_tail()))
    return report
