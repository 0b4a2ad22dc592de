"""Pieces `scripts/bench.py` is built from: Granian servers, wrk runs, cookies, percentiles.

Nothing here knows about Gatehouse's routes; bench.py puts the pieces together.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class BenchError(Exception):
    """The benchmark cannot run (as opposed to: it ran and missed a target)."""


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A Granian server in its own process group, logging to a file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Its origin, e.g. http://127.0.0.1:8123."""
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """SIGTERM the whole process group (server and workers), SIGKILL what is left after 10 s."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def log_tail(self, lines: int = 20) -> str:
        """The end of its log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signum)


def start_granian(
    name: str, target: str, *, port: int, env: dict[str, str], log_path: Path, workers: int = 2
) -> Server:
    """Start `granian --factory target` on `port`; the caller must `stop()` it."""
    command = [
        str(BIN / "granian"),
        *("--interface", "asgi", "--factory", target),
        *("--host", HOST, "--port", str(port), "--workers", str(workers)),
        "--no-access-log",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only this script, which then stops the group.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, port, process, log_path)


def wait_healthy(server: Server, path: str = "/healthz", timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll `path` until it answers 200; fail with the log's tail if the server dies or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited at startup:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + path, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise BenchError(f"{server.name} not healthy after {timeout:.0f} s:\n{server.log_tail()}")


# --- cookies and forms -----------------------------------------------------------------------


def no_cookie_jar() -> CookieJar:
    """A jar that stores nothing: the bench sends cookies itself.

    Production cookies are `Secure`, which a client rightly keeps off plain http; the bench talks
    to 127.0.0.1 over http, so it carries them in a Cookie header as a TLS proxy would pass them on.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def cookies_set_by(response: httpx.Response) -> dict[str, str]:
    """Name → value of every cookie the response sets (attributes ignored)."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, value = header.split(";", 1)[0].partition("=")
        cookies[name.strip()] = value.strip()
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    """A Cookie header value carrying `cookies`."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


_CSRF_FIELD = re.compile(r'name="_csrf_token"\s+value="([^"]+)"')


def csrf_token_in(page: str) -> str:
    """The `_csrf_token` hidden field of the first form on `page`."""
    match = _CSRF_FIELD.search(page)
    if match is None:
        raise BenchError("no _csrf_token field in the page")
    return html.unescape(match.group(1))


# --- wrk -------------------------------------------------------------------------------------

# Counts responses by status across wrk's threads and prints them after wrk's own report.
STATUS_COUNTER_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\\n", status, count))
    end
  end
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms), responses by status, socket errors."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int] = field(default_factory=Counter)
    socket_errors: int = 0

    @property
    def non_200(self) -> int:
        """Responses that were not 200 OK."""
        return sum(count for status, count in self.statuses.items() if status != 200)


def run_wrk(
    url: str, *, duration: int, connections: int, threads: int, script: Path, headers: dict[str, str]
) -> WrkResult:
    """Run wrk against `url` and parse its report."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


def parse_wrk(report: str) -> WrkResult:
    """Requests/sec, the 50% and 99% latency lines, the status lines of STATUS_COUNTER_LUA."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    if rate is None:
        raise BenchError(f"cannot read wrk's report:\n{report}")
    statuses: Counter[int] = Counter()
    for status, count in re.findall(r"^status (\d+) (\d+)$", report, re.MULTILINE):
        statuses[int(status)] += int(count)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p50_ms=_latency(report, "50"),
        p99_ms=_latency(report, "99"),
        statuses=statuses,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _latency(report: str, percent: str) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)
    if match is None:
        raise BenchError(f"no {percent}% line in wrk's report (was --latency passed?)")
    return float(match.group(1)) * _UNITS[match.group(2)]


# --- numbers ---------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of `values` (NaN when there are none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def mean(values: list[float]) -> float:
    """Arithmetic mean (NaN when there are none)."""
    return sum(values) / len(values) if values else math.nan


def verdict(ok: bool) -> str:
    """How a target reads in the report."""
    return "met" if ok else "MISSED"
