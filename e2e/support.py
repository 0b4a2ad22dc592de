"""Helpers for the browser tests: the live server process, a console watcher, axe, polling, mail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    APIRequestContext,
    BrowserContext,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    expect,
)

from tests.support.mail import free_port

ROOT = Path(__file__).resolve().parent.parent
APP_FACTORY = "app.asgi:create_app"
SECRET_KEY = "e2e-secret-key-" + "x" * 40
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
_AXE = Axe()


class ServerStartError(RuntimeError):
    """The live server exited or never answered /healthz."""


def server_env(url: str, database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the live server: this one, plus test settings pointing at `database_url`,
    plus `extra` (which wins)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "test",
        "BASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "MAIL_BACKEND": "mailbox",
        "SAQ_SHUTDOWN_GRACE": "0",
        "SAQ_QUEUE_NAME": "gatehouse-e2e",
        **(extra or {}),
    }
    if not env.get("SAQ_REDIS_URL"):  # Redis only when the caller asked for it; else the PostgreSQL queue
        env.pop("SAQ_REDIS_URL", None)
    return env


@dataclass
class LiveServer:
    """A Granian process serving the app on a free local port, its output going to `log_path`."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls,
        database_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        *,
        host_name: str = "127.0.0.1",
    ) -> LiveServer:
        """Launch Granian from this virtualenv against `database_url`, with `env` added to its environment.

        It listens on 127.0.0.1; `host_name` is the name in its BASE_URL (WebAuthn needs `localhost`:
        a relying party id cannot be an IP address).
        """
        port = free_port()
        url = f"http://{host_name}:{port}"
        granian = Path(sys.executable).parent / "granian"
        command = [str(granian), "--interface", "asgi", "--factory", APP_FACTORY]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=log_path.parent,  # not the project root: a developer's .env must not leak in
                env=server_env(url, database_url, env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a hung server can be killed whole
            )
        return cls(url=url, log_path=log_path, process=process)

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        """Poll /healthz until it answers 200; raise if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.process.poll()) is not None:
                raise ServerStartError(f"the server exited with status {code}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise ServerStartError(f"/healthz did not answer 200 within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL the process group if it has not exited after `timeout` seconds."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines the server printed."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ConsoleWatcher:
    """Collects console errors and uncaught exceptions from every page it is told to watch."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Record `page`'s console errors and page errors."""
        self.pages.append(page)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def watch_context(self, context: BrowserContext) -> None:
        """Watch every page of `context`, present and future."""
        for page in context.pages:
            self.watch(page)
        context.on("page", self.watch)

    def expect_error_response(self, status: int, path: str) -> None:
        """Tolerate Chromium's "Failed to load resource" error for a deliberate `status` from `path`."""
        self.expected.append((status, path))

    def assert_clean(self) -> None:
        """Fail with every recorded problem, if there were any."""
        for page in self.pages:
            if not page.is_closed():
                page.title()  # a round trip, so events still in flight are delivered
        assert not self.problems, "the browser reported errors:\n" + "\n".join(self.problems)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error" or self._is_expected(message):
            return
        where = message.location
        self.problems.append(f"console.error: {message.text} ({where['url']}:{where['lineNumber']})")

    def _on_page_error(self, error: Error) -> None:
        self.problems.append(f"pageerror: {error.stack or f'{error.name}: {error.message}'}")

    def _is_expected(self, message: ConsoleMessage) -> bool:
        path = urlsplit(message.location["url"]).path
        return any(
            path == expected_path and f"status of {status}" in message.text
            for status, expected_path in self.expected
        )


def assert_accessible(page: Page) -> None:
    """Run axe-core on `page` (JavaScript must be on) and fail on serious or critical violations."""
    violations = _AXE.run(page).response["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"accessibility violations on {page.url}:\n" + "\n".join(map(_describe, blocking))


def _describe(violation: dict[str, object]) -> str:
    nodes = violation["nodes"]
    assert isinstance(nodes, list)
    targets = "\n".join(f"    {node['target']}: {node.get('failureSummary', '')}" for node in nodes)
    return f"  {violation['id']} ({violation['impact']}): {violation['help']}\n{targets}"


def open_with_htmx(page: Page, path: str = "/") -> None:
    """Open `path` and wait until htmx has loaded."""
    page.goto(path)
    page.wait_for_function("() => window.htmx !== undefined")


def reload_until_visible(page: Page, locator: Locator, timeout: float = 10.0) -> None:
    """Reload `page` until `locator` shows up (for content a background job produces)."""
    deadline = time.monotonic() + timeout
    while not locator.is_visible() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        page.reload()
    expect(locator).to_be_visible(timeout=1000)


def wait_for_mail(
    request: APIRequestContext, to: str, *, subject: str | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """The newest dev-mailbox message to `to` (with `subject`, if given), polling while a job delivers it.

    `request` is a page's or context's `.request`, so relative URLs resolve against the live server.
    """
    deadline = time.monotonic() + timeout
    while True:
        response = request.get("/dev/mailbox/messages.json", params={"to": to})
        assert response.ok, f"the dev mailbox answered {response.status}"
        found = [m for m in response.json() if subject is None or m["subject"] == subject]
        if found:
            return found[0]  # newest first
        if time.monotonic() >= deadline:
            wanted = f"“{subject}” " if subject else ""
            raise AssertionError(f"no message {wanted}to {to} arrived within {timeout:.0f} s")
        time.sleep(0.1)


def mailed_link(message: Mapping[str, Any], path: str) -> str:
    """The link to `path`, token included, in the text part of a dev-mailbox message."""
    found = re.search(rf"https?://\S+{re.escape(path)}\?token=[A-Za-z0-9_\-]+", message["text"])
    assert found is not None, f"no {path} link in the message:\n{message['text']}"
    return found.group(0)
