"""`make loadtest`: simulated browsers sign up, confirm by code, edit their profile and sign out, and
afterwards the mail, the audit chain, the outbox and the database connections are checked.

1. Database `gatehouse_loadtest` on DATABASE_URL's server (else the embedded one), dropped,
   recreated and migrated to `heads`.
2. Gatehouse under Granian (2 workers, APP_ENV=prod on plain http as `make bench` runs it,
   production argon2id, MAIL_BACKEND=mailbox) and one standalone job worker (`litestar worker`), as
   production runs it (prod's default is no worker in the web processes).
3. Each of LOADTEST_USERS simulated users runs LOADTEST_ITERATIONS rounds, at most
   LOADTEST_CONCURRENCY rounds at once. A round is one browser (its own cookie jar and its own
   X-Forwarded-For address, so per-address rate limits do not decide the outcome) that:
   registers a new address; reads the code from the `dev_mailbox_messages` table; confirms with it
   (Gatehouse then applies the chosen password and signs the browser in, so no sign-in is needed
   here); changes its display name; signs out; signs in with the password; checks the name on
   the profile page; signs out again.
4. Checks: no 5xx answer; every round finished; exactly one confirmation mail per address, each
   delivered once by the worker; `litestar audit verify` passes; every `job_outbox` row has
   `sent_at`; the display names are stored; the connections each process group held stayed within
   its pools; and none is left once the servers have stopped.

Knobs (environment): LOADTEST_USERS (20), LOADTEST_ITERATIONS (1), LOADTEST_CONCURRENCY (10),
LOADTEST_TIMEOUT seconds for all rounds together (600). Exit 0 when every check passes, 1 when one
fails, 2 when the load test could not run (or was interrupted). Servers are stopped on every exit,
Ctrl-C included. Logs go to .dev/loadtest/.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.auth.core.toolkit import CookieNames
from scripts.bench import Database, db_pool_size, gatehouse_env, git_revision, prepare_database
from scripts.bench_support import (
    BIN,
    ROOT,
    BenchError,
    Server,
    csrf_token_in,
    free_port,
    no_cookie_jar,
    percentile,
    start_granian,
    wait_healthy,
)
from scripts.embedded_pg import plain_url
from scripts.loadtest_support import Backend, BrowserCookies, client_pids, lines_mentioning, log_records

LOADTEST_DATABASE = "gatehouse_loadtest"
WORK_DIR = ROOT / ".dev" / "loadtest"  # logs; .dev/ is git-ignored
APP = "app.asgi:create_app"
WORKERS = 2
QUEUE_POOL_MAX = 4  # app/jobs.py build_queue: the most connections one process's job-queue pool opens
WORKER_ENGINE_MAX = 4  # app/mail/tasks.py worker_startup: the job worker's engine, pool 2 + overflow 2

LIMITS = {"LOADTEST_USERS": 1000, "LOADTEST_ITERATIONS": 50, "LOADTEST_CONCURRENCY": 200}
REQUEST_TIMEOUT = 60.0  # seconds one request may take
MAIL_TIMEOUT = 60.0  # seconds from the registration's answer until its mail must be in the mailbox
MAIL_POLL = 0.2
SAMPLE_INTERVAL = 0.5  # seconds between two looks at pg_stat_activity
SETTLE_TIMEOUT = 30.0  # seconds the queue gets to finish its jobs once the rounds are over
LEAK_TIMEOUT = 10.0  # seconds the connections get to close after the servers stopped
CLI_TIMEOUT = 120
STOP_TIMEOUT = 30.0  # seconds a server gets to exit on SIGTERM (the job worker's grace period is 10 s)

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 gatehouse-loadtest"
)
FIRST_ADDRESS = ipaddress.IPv4Address("10.64.0.1")  # each browser gets the next one
CONFIRM_SUBJECT = "Confirm your %"  # templates/emails/confirm_email.txt
SESSION_COOKIE = CookieNames.for_deployment(secure=True).session  # APP_ENV=prod: secure cookies
CODE_IN_MAIL = re.compile(r"(?m)^\s+(\d{3}) (\d{3})\s*$")  # "    123 456", as the mail prints it


@dataclass(frozen=True)
class Knobs:
    """What the environment may change."""

    users: int
    iterations: int
    concurrency: int
    timeout: int

    @classmethod
    def from_env(cls) -> Knobs:
        """LOADTEST_USERS, LOADTEST_ITERATIONS, LOADTEST_CONCURRENCY, LOADTEST_TIMEOUT, or the defaults."""
        return cls(
            users=_bounded_int("LOADTEST_USERS", 20, LIMITS["LOADTEST_USERS"]),
            iterations=_bounded_int("LOADTEST_ITERATIONS", 1, LIMITS["LOADTEST_ITERATIONS"]),
            concurrency=_bounded_int("LOADTEST_CONCURRENCY", 10, LIMITS["LOADTEST_CONCURRENCY"]),
            timeout=_bounded_int("LOADTEST_TIMEOUT", 600, 3600),
        )

    @property
    def rounds(self) -> int:
        """Rounds in all (each one a new account)."""
        return self.users * self.iterations


def _bounded_int(name: str, default: int, most: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BenchError(f"{name} must be a whole number from 1 to {most}, not {raw!r}")
    return int(raw)


# --- database --------------------------------------------------------------------------------


def rows(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every row `statement` returns."""
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


# --- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    """The web server (Granian and its workers) and the job worker, each its own process group."""

    web: Server
    worker: Server
    env: dict[str, str]

    @property
    def groups(self) -> dict[str, int]:
        """Label → process group id (each was started in a session of its own)."""
        return {"web": self.web.process.pid, "worker": self.worker.process.pid}


def loadtest_env(database_url: str, port: int, pool_size: int) -> dict[str, str]:
    """`make bench`'s production settings, with the mailbox backend and no worker in the web processes."""
    return {
        **gatehouse_env(database_url, port, pool_size),  # APP_ENV=prod, SECRET_KEY, TRUSTED_PROXIES...
        # Allowed in prod: the backend setting wins over the environment's default (only the
        # /dev/mailbox pages are dev-only, and the load test reads the table directly).
        "MAIL_BACKEND": "mailbox",
        "SAQ_IN_PROCESS_WORKER": "false",  # prod's default, said out loud: the worker is its own process
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",  # mail.delivered lines are how duplicate deliveries are counted
    }


def start_worker(env: dict[str, str], log_path: Path) -> Server:
    """`litestar --app app.asgi:create_app worker` in its own session; the caller must `stop()` it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "litestar"), "--app", APP, "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server("job worker", 0, process, log_path)


def start_servers(cleanup: contextlib.ExitStack, database_url: str, pool_size: int) -> Servers:
    """Gatehouse (healthy) and the job worker (running); `cleanup` stops both."""
    port = free_port()
    env = loadtest_env(database_url, port, pool_size)
    worker = start_worker(env, WORK_DIR / "worker.log")
    cleanup.callback(stop_server, worker)
    web = start_granian("gatehouse", APP, port=port, env=env, log_path=WORK_DIR / "web.log", workers=WORKERS)
    cleanup.callback(stop_server, web)
    wait_healthy(web)
    wait_for_log(worker, "Worker starting")
    return Servers(web, worker, env)


def wait_for_log(server: Server, text: str, timeout: float = 60.0) -> None:
    """Wait until `server` has logged `text`; fail with the log's tail if it dies or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited at startup:\n{server.log_tail()}")
        if lines_mentioning(server.log_path, text, 1):
            return
        time.sleep(0.3)
    raise BenchError(f"{server.name} did not log {text!r} within {timeout:.0f} s:\n{server.log_tail()}")


@dataclass(frozen=True)
class Stopped:
    """How a server went: seconds from SIGTERM to exit, its exit status, whether its group is empty."""

    name: str
    seconds: float
    status: int | None
    group_empty: bool

    @property
    def clean(self) -> bool:
        """Exited by itself on SIGTERM (no SIGKILL), status 0, nothing of it left."""
        return self.status == 0 and self.group_empty


def stop_server(server: Server, timeout: float = STOP_TIMEOUT) -> Stopped:
    """SIGTERM the process group and wait up to `timeout`; then `Server.stop()` (SIGKILL after 10 s)."""
    started = time.monotonic()
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.stop()
    seconds = time.monotonic() - started
    try:
        os.killpg(server.process.pid, 0)
        empty = False
    except ProcessLookupError:
        empty = True
    except PermissionError:
        empty = False
    if not empty:  # a worker process outlived its leader: it must not hold connections past here
        server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
    return Stopped(server.name, seconds, server.process.returncode, empty)


# --- connections -----------------------------------------------------------------------------


class ConnectionSampler(threading.Thread):
    """Counts the load test database's connections by the process group holding them, twice a second."""

    def __init__(self, url: str, groups: dict[str, int]) -> None:
        super().__init__(name="connection-sampler", daemon=True)
        self.url, self.groups = url, groups
        self.peak: Counter[str] = Counter()
        self.peak_total = 0
        self.samples = 0
        self.error: str | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until `stop()`."""
        try:
            with psycopg.connect(plain_url(self.url), autocommit=True) as conn:
                while not self.stopped.is_set():
                    self.sample(conn)
                    self.stopped.wait(SAMPLE_INTERVAL)
                self.sample(conn)
        except psycopg.Error as exc:
            self.error = str(exc)

    def sample(self, conn: psycopg.Connection[Any]) -> None:
        """One look: who holds each connection (its own one does not count)."""
        found = conn.execute(
            "SELECT pid, client_port FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        owners = client_pids(
            Backend(pid, port if port is not None and port > 0 else None) for pid, port in found
        )
        counts: Counter[str] = Counter()
        by_group = {pgid: label for label, pgid in self.groups.items()}
        for client in owners.values():
            counts[self.label(client, by_group)] += 1
        for label, count in counts.items():
            self.peak[label] = max(self.peak[label], count)
        self.peak_total = max(self.peak_total, len(found))
        self.samples += 1

    @staticmethod
    def label(client: int | None, by_group: dict[int, str]) -> str:
        """Which of our processes a client pid is: "web", "worker", "load test" or "unattributed"."""
        if client is None:
            return "unattributed"
        if client == os.getpid():
            return "load test"
        try:
            return by_group.get(os.getpgid(client), "unattributed")
        except (ProcessLookupError, PermissionError):
            return "unattributed"

    def stop(self) -> None:
        """Take a last sample and end."""
        self.stopped.set()
        self.join(timeout=15)


def connections_left(url: str, timeout: float = LEAK_TIMEOUT) -> int:
    """Connections to the database besides our own, once they have had `timeout` to go away."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            left = int(row[0]) if row else 0
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(0.2)


# --- a browser -------------------------------------------------------------------------------


class FlowError(Exception):
    """A round cannot go on: a step answered something else than a browser would go on with."""

    def __init__(self, step: str, problem: str, request_id: str = "") -> None:
        super().__init__(f"{step}: {problem}")
        self.step, self.problem, self.request_id = step, problem, request_id


@dataclass(frozen=True)
class Sample:
    """One request: its step, status (0: no answer), duration and the server's request id."""

    step: str
    status: int
    seconds: float
    request_id: str


class Browser:
    """One browser: its own connections, cookie jar and client address (X-Forwarded-For)."""

    def __init__(self, base_url: str, address: str, samples: list[Sample]) -> None:
        self.base_url, self.samples = base_url, samples
        self.cookies = BrowserCookies()
        self.client = httpx.AsyncClient(
            base_url=base_url,
            cookies=no_cookie_jar(),  # the jar below keeps them (Secure cookies on plain http)
            timeout=REQUEST_TIMEOUT,
            headers={"User-Agent": USER_AGENT, "X-Forwarded-For": address, "Sec-Fetch-Site": "same-origin"},
            event_hooks={"request": [self.cookies.attach], "response": [self.cookies.absorb]},
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    async def get(self, path: str, *, expect: int = 200) -> httpx.Response:
        """GET a page, which must answer `expect`."""
        return await self._send("GET", path, expect, {})

    async def post(self, path: str, data: dict[str, str], *, expect: int = 303) -> httpx.Response:
        """POST a form from our own page, which must answer `expect` (303: the redirect after a post)."""
        return await self._send("POST", path, expect, {"data": data, "headers": {"Origin": self.base_url}})

    async def _send(self, method: str, path: str, expect: int, options: dict[str, Any]) -> httpx.Response:
        step = f"{method} {path}"
        started = time.monotonic()
        try:
            response = await self.client.request(method, path, **options)
        except httpx.HTTPError as exc:
            self.samples.append(Sample(step, 0, time.monotonic() - started, ""))
            raise FlowError(step, f"no answer ({type(exc).__name__}: {exc})") from exc
        request_id = response.headers.get("x-request-id", "")
        self.samples.append(Sample(step, response.status_code, time.monotonic() - started, request_id))
        if response.status_code != expect:
            raise FlowError(step, f"{describe_answer(response)} (expected {expect})", request_id)
        return response


_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.DOTALL)


def describe_answer(response: httpx.Response) -> str:
    """Status, the page's heading, Retry-After and Location: what tells one answer from another."""
    said = f"answered {response.status_code}"
    heading = _HEADING.search(response.text)
    if heading:
        said += f" {' '.join(html.unescape(re.sub('<[^>]+>', '', heading.group(1))).split())[:80]!r}"
    if retry := response.headers.get("retry-after"):
        said += f", Retry-After {retry}"
    if where := response.headers.get("location"):
        said += f" → {where}"
    return said


def token_of(response: httpx.Response, step: str) -> str:
    """The page's CSRF token, or a FlowError saying the page had none."""
    try:
        return csrf_token_in(response.text)
    except BenchError as exc:
        raise FlowError(step, str(exc)) from exc


def expect_location(response: httpx.Response, step: str, path: str) -> None:
    """The redirect must go to `path`."""
    where = response.headers.get("location", "")
    if where.split("?", 1)[0] != path:
        raise FlowError(step, f"redirected to {where!r}, not {path}")


def expect_text(response: httpx.Response, step: str, text: str) -> None:
    """The page must show `text`."""
    if html.escape(text) not in response.text:
        raise FlowError(step, f"the page does not show {text!r}")


# --- the mailbox -----------------------------------------------------------------------------


class MailWatcher:
    """One connection polling `dev_mailbox_messages` for the confirmation mails rounds wait for."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.failure: BaseException | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop`; a failure is handed to every waiting round."""
        try:
            async with await psycopg.AsyncConnection.connect(plain_url(self.url), autocommit=True) as conn:
                while not stop.is_set():
                    if self.waiting:
                        cursor = await conn.execute(
                            "SELECT to_addr, text_body FROM dev_mailbox_messages"
                            " WHERE to_addr = ANY(%s) AND subject LIKE %s",
                            (list(self.waiting), CONFIRM_SUBJECT),
                        )
                        for to_addr, body in await cursor.fetchall():
                            waiter = self.waiting.pop(to_addr, None)
                            if waiter is not None and not waiter.done():
                                waiter.set_result(body)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), MAIL_POLL)
        except Exception as exc:
            self.failure = exc
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(exc)
            raise

    async def code_for(self, address: str, step: str) -> str:
        """The code in `address`'s confirmation mail, once it is there (at most MAIL_TIMEOUT)."""
        if self.failure is not None:
            raise FlowError(step, f"cannot read the mailbox: {self.failure}")
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[address] = waiter
        try:
            body = await asyncio.wait_for(waiter, MAIL_TIMEOUT)
        except TimeoutError as exc:
            raise FlowError(step, f"no confirmation mail within {MAIL_TIMEOUT:.0f} s") from exc
        except psycopg.Error as exc:
            raise FlowError(step, f"cannot read the mailbox: {exc}") from exc
        finally:
            self.waiting.pop(address, None)
        match = CODE_IN_MAIL.search(body)
        if match is None:
            raise FlowError(step, "no code in the confirmation mail")
        return match.group(1) + match.group(2)


# --- one round -------------------------------------------------------------------------------


@dataclass
class Round:
    """One browser's way from registration to signing out the second time."""

    user: int
    number: int
    email: str
    address: str
    registered: bool = False
    display_name: str = ""
    mail_seconds: float | None = None
    failure: FlowError | None = None
    finished: bool = False


def password_for_round() -> str:
    """A strong random password (the policy checks its strength)."""
    return f"lt {secrets.token_urlsafe(18)}"


async def run_round(base_url: str, mail: MailWatcher, this: Round, samples: list[Sample]) -> None:
    """Register, confirm by code, rename, sign out, sign in again, check, sign out; record how it went."""
    password = password_for_round()
    try:
        async with Browser(base_url, this.address, samples) as browser:
            page = await browser.get("/register")
            registered = await browser.post(
                "/register",
                {"email": this.email, "password": password, "_csrf_token": token_of(page, "GET /register")},
            )
            expect_location(registered, "POST /register", "/register/check-inbox")
            this.registered = True
            asked = time.monotonic()
            inbox = await browser.get("/register/check-inbox")
            code = await mail.code_for(this.email, "mail")
            this.mail_seconds = time.monotonic() - asked
            confirmed = await browser.post(
                "/register/confirm-code",
                {"code": code, "_csrf_token": token_of(inbox, "GET /register/check-inbox")},
            )
            # /settings: the code came from the registering browser, so its password was applied
            # and the browser is signed in (else /welcome/password would ask for one).
            expect_location(confirmed, "POST /register/confirm-code", "/settings")
            if SESSION_COOKIE not in browser.cookies.values:
                raise FlowError("POST /register/confirm-code", f"confirmed, but no {SESSION_COOKIE} cookie")
            profile = await browser.get("/settings/profile")
            expect_text(profile, "GET /settings/profile", this.email)
            name = f"Load user {this.user} round {this.number} {secrets.token_hex(3)}"
            token = token_of(profile, "GET /settings/profile")
            saved = await browser.post("/settings/profile", {"display_name": name, "_csrf_token": token})
            expect_location(saved, "POST /settings/profile", "/settings/profile")
            this.display_name = name
            await signs_out(browser, token)
            login = await browser.get("/login")
            data = {"email": this.email, "password": password, "next": "/settings/profile"}
            signed_in = await browser.post("/login", {**data, "_csrf_token": token_of(login, "GET /login")})
            expect_location(signed_in, "POST /login", "/settings/profile")
            profile = await browser.get("/settings/profile")
            expect_text(profile, "GET /settings/profile", name)
            await signs_out(browser, token_of(profile, "GET /settings/profile"))
        this.finished = True
    except FlowError as exc:
        this.failure = exc


async def signs_out(browser: Browser, token: str) -> None:
    """POST /logout, which sends the browser to the sign-in page and clears its cookies."""
    response = await browser.post("/logout", {"_csrf_token": token})
    expect_location(response, "POST /logout", "/login")
    if SESSION_COOKIE in browser.cookies.values:
        raise FlowError("POST /logout", f"the browser still holds {SESSION_COOKIE} after signing out")


@dataclass
class LoadResult:
    """Every round and request, and how long it all took."""

    rounds: list[Round]
    samples: list[Sample]
    seconds: float
    timed_out: bool = False


async def load(base_url: str, database_url: str, knobs: Knobs, run_id: str) -> LoadResult:
    """All rounds: each user's in turn, at most `concurrency` at once, within `timeout`."""
    samples: list[Sample] = []
    rounds = [
        Round(
            user,
            number,
            email=f"lt-{run_id}-u{user:04d}-r{number:02d}@example.com",
            address=str(FIRST_ADDRESS + (user * knobs.iterations + number)),
        )
        for user in range(1, knobs.users + 1)
        for number in range(1, knobs.iterations + 1)
    ]
    by_user: dict[int, list[Round]] = defaultdict(list)
    for this in rounds:
        by_user[this.user].append(this)
    mail = MailWatcher(database_url)
    gate = asyncio.Semaphore(knobs.concurrency)
    stop = asyncio.Event()

    async def user_rounds(mine: list[Round]) -> None:
        for this in mine:
            async with gate:
                await run_round(base_url, mail, this, samples)

    watcher = asyncio.create_task(mail.run(stop))
    started, timed_out = time.monotonic(), False
    try:
        async with asyncio.timeout(knobs.timeout), asyncio.TaskGroup() as group:
            for mine in by_user.values():
                group.create_task(user_rounds(mine))
    except TimeoutError:
        timed_out = True
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await watcher
    return LoadResult(rounds, samples, time.monotonic() - started, timed_out)


# --- after the load --------------------------------------------------------------------------


def settle(url: str) -> str:
    """Wait (SETTLE_TIMEOUT at most) until no outbox row is unsent and no outbox job is unfinished."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        unsent = rows(url, "SELECT count(*) FROM job_outbox WHERE sent_at IS NULL")[0][0]
        running = rows(
            url,
            "SELECT count(*) FROM saq_jobs WHERE key LIKE %s AND status NOT IN ('complete', 'failed', 'aborted')",
            ("%outbox:%",),
        )[0][0]
        if (unsent == 0 and running == 0) or time.monotonic() >= deadline:
            return f"{unsent} outbox rows unsent, {running} outbox jobs unfinished"
        time.sleep(0.5)


def audit_verify(env: dict[str, str]) -> tuple[bool, str]:
    """`litestar audit verify`: whether it passed, and what it said."""
    done = subprocess.run(
        [str(BIN / "litestar"), "--app", APP, "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return done.returncode == 0, said[-1] if said else f"exit status {done.returncode}"


@dataclass
class Check:
    """One pass/fail line of the summary."""

    name: str
    ok: bool
    detail: str


@dataclass
class Findings:
    """What the database and the logs say after the run."""

    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record a check."""
        self.checks.append(Check(name, ok, detail))

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(check.ok for check in self.checks)


def check_answers(result: LoadResult, found: Findings, knobs: Knobs) -> None:
    """No 5xx, every round finished."""
    errors = [s for s in result.samples if s.status >= 500]
    silent = [s for s in result.samples if s.status == 0]
    found.add(
        "no 5xx answers",
        not errors,
        f"{len(errors)} of {len(result.samples)} requests"
        + (f"; {len(silent)} got no answer" if silent else ""),
    )
    finished = sum(1 for r in result.rounds if r.finished)
    cut = " (LOADTEST_TIMEOUT reached)" if result.timed_out else ""
    found.add("every round finished", finished == knobs.rounds, f"{finished} of {knobs.rounds}{cut}")


def check_mail(url: str, result: LoadResult, worker_log: Path, found: Findings) -> None:
    """One confirmation mail per registered address; the worker delivered each message once."""
    registered = {r.email for r in result.rounds if r.registered}
    confirmations = Counter(
        dict(
            rows(
                url,
                "SELECT to_addr, count(*) FROM dev_mailbox_messages WHERE subject LIKE %s GROUP BY to_addr",
                (CONFIRM_SUBJECT,),
            )
        )
    )
    missing = sorted(registered - set(confirmations))
    doubled = sorted(address for address in registered if confirmations[address] > 1)
    strangers = sorted(set(confirmations) - registered)
    detail = f"{len(registered)} addresses: {len(missing)} without, {len(doubled)} with more than one"
    if strangers:
        detail += f", {len(strangers)} mails to addresses that never got a 303"
    found.add("one confirmation mail per address", not missing and not doubled, detail)
    for address in (missing + doubled)[:10]:
        found.notes.append(f"mail: {address} has {confirmations[address]} confirmation mails")

    delivered = Counter(
        str(record.get("message_id"))
        for record in log_records(worker_log)
        if record.get("event") == "mail.delivered"
    )
    again = {message: n for message, n in delivered.items() if n > 1}
    by_template = Counter(
        str(record.get("template"))
        for record in log_records(worker_log)
        if record.get("event") == "mail.delivered"
    )
    stored = rows(url, "SELECT count(*) FROM dev_mailbox_messages")[0][0]
    found.add(
        "each message delivered once",
        not again and sum(delivered.values()) >= stored,
        f"{sum(delivered.values())} deliveries of {len(delivered)} messages"
        f" ({', '.join(f'{t} {n}' for t, n in sorted(by_template.items())) or 'none'}),"
        f" {len(again)} delivered more than once; {stored} rows in the mailbox",
    )
    for message, count in list(again.items())[:10]:
        found.notes.append(f"mail: message {message} delivered {count} times:")
        found.notes.extend(f"    {line}" for line in lines_mentioning(worker_log, message, 6))


def check_outbox(url: str, found: Findings) -> None:
    """Every job_outbox row sent; every outbox job complete."""
    outbox = rows(
        url, "SELECT task, count(*), count(*) FILTER (WHERE sent_at IS NULL) FROM job_outbox GROUP BY task"
    )
    total, unsent = sum(r[1] for r in outbox), sum(r[2] for r in outbox)
    tasks = ", ".join(f"{task} {n}" for task, n, _ in sorted(outbox)) or "none"
    found.add("every outbox row has sent_at", unsent == 0, f"{total} rows ({tasks}), {unsent} unsent")
    jobs = rows(
        url, "SELECT status, count(*) FROM saq_jobs WHERE key LIKE %s GROUP BY status", ("%outbox:%",)
    )
    statuses = dict(jobs)
    others = sum(n for status, n in statuses.items() if status != "complete")
    found.add(
        "every outbox job complete",
        others == 0 and sum(statuses.values()) == total,
        ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())) or "no jobs",
    )


def check_profiles(url: str, result: LoadResult, found: Findings) -> None:
    """The display name each finished round saved is the one stored."""
    named = {r.email: r.display_name for r in result.rounds if r.finished}
    stored = dict(rows(url, "SELECT email, display_name FROM users WHERE email = ANY(%s)", (list(named),)))
    wrong = [email for email, name in named.items() if stored.get(email) != name]
    found.add("display names stored", not wrong, f"{len(named) - len(wrong)} of {len(named)} as saved")


def check_connections(sampler: ConnectionSampler, left: int, pool_size: int, found: Findings) -> None:
    """Each process group within its pools while running; nothing left after the stop."""
    web_budget = WORKERS * (pool_size + QUEUE_POOL_MAX)
    worker_budget = WORKER_ENGINE_MAX + QUEUE_POOL_MAX
    if sampler.error or not sampler.samples:
        found.add("connections sampled", False, sampler.error or "no sample taken")
    peak = sampler.peak
    found.add(
        "web connections within pools",
        peak["web"] <= web_budget,
        f"peak {peak['web']} ≤ {WORKERS} workers x ({pool_size} DB_POOL_SIZE + {QUEUE_POOL_MAX} queue) = {web_budget}",
    )
    found.add(
        "worker connections within pools",
        peak["worker"] <= worker_budget,
        f"peak {peak['worker']} ≤ {WORKER_ENGINE_MAX} engine + {QUEUE_POOL_MAX} queue = {worker_budget}",
    )
    ours = peak["load test"]
    found.add(
        "all connections within pools",
        sampler.peak_total <= web_budget + worker_budget + ours,
        f"peak {sampler.peak_total} in all (load test's own {ours}, unattributed {peak['unattributed']},"
        f" {sampler.samples} samples)",
    )
    found.add(
        "no connection left after the stop", left == 0, f"{left} left (waited up to {LEAK_TIMEOUT:.0f} s)"
    )


def jobs_started_after_shutdown(worker_log: Path) -> list[str]:
    """The worker's "Processing Job" lines logged after its "Working shutting down" line."""
    late, stopping = [], False
    for record in log_records(worker_log):
        event = str(record.get("event", ""))
        if event.startswith("Working shutting down"):
            stopping = True
        elif stopping and event.startswith("Processing Job"):
            late.append(f"{record.get('timestamp')} {event[:160]}")
    return late[:10]


def server_errors(result: LoadResult, logs: list[Path], found: Findings) -> None:
    """The log lines of every 5xx answer, and the warnings and errors the processes logged."""
    for sample in [s for s in result.samples if s.status >= 500][:10]:
        found.notes.append(f"5xx: {sample.step} answered {sample.status} (request id {sample.request_id}):")
        for log in logs:
            found.notes.extend(
                f"    {log.name}: {line}" for line in lines_mentioning(log, sample.request_id, 8)
            )
    for log in logs:
        levels = Counter(
            f"{record.get('level')} {record.get('event')}"
            for record in log_records(log)
            if record.get("level") in {"warning", "error", "critical"}
        )
        raw = sum(1 for record in log_records(log) if "raw" in record and "Traceback" in record["raw"])
        if levels or raw:
            counted = ", ".join(f"{what} x{n}" for what, n in levels.most_common(8))
            found.notes.append(f"{log.name}: {counted}{f'; {raw} tracebacks' if raw else ''}")


# --- the report ------------------------------------------------------------------------------


def describe(database: Database, knobs: Knobs, pool_size: int) -> None:
    """What runs where."""
    print("Gatehouse load test")
    print(f"  commit      {git_revision()}")
    print(
        f"  machine     {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {database.server_version}"
    )
    where = "embedded server (.dev/pg)" if database.embedded else "DATABASE_URL's server"
    print(f"  database    {LOADTEST_DATABASE} on the {where}, migrated to heads")
    print(
        f"  web         Granian {version('granian')} {WORKERS} workers, APP_ENV=prod on plain http,"
        f" production argon2id, DB_POOL_SIZE={pool_size}, MAIL_BACKEND=mailbox, TRUSTED_PROXIES=127.0.0.1"
    )
    print("  jobs        one `litestar worker` process (SAQ on PostgreSQL); none in the web processes")
    print(
        f"  load        {knobs.users} users x {knobs.iterations} rounds, {knobs.concurrency} at once,"
        f" at most {knobs.timeout} s; each round its own browser and X-Forwarded-For address"
    )
    print(f"  logs        {WORK_DIR.relative_to(ROOT)}/")


def report(result: LoadResult, found: Findings) -> None:
    """Requests by step, the rounds, mail latency, then the checks."""
    finished = sum(1 for r in result.rounds if r.finished)
    rate = len(result.samples) / result.seconds if result.seconds else 0.0
    print(
        f"\nRounds: {len(result.rounds)}, {finished} finished, in {result.seconds:.1f} s"
        f" ({len(result.samples)} requests, {rate:.1f}/s)"
    )
    print(f"  {'step':<30}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    steps: dict[str, list[Sample]] = defaultdict(list)
    for sample in result.samples:
        steps[sample.step].append(sample)
    for step, samples in steps.items():
        ms = [s.seconds * 1000 for s in samples]
        statuses = ", ".join(
            f"{status or 'no answer'}x{n}" for status, n in sorted(Counter(s.status for s in samples).items())
        )
        print(
            f"  {step:<30}{len(samples):>9}{percentile(ms, 50):>9.0f}{percentile(ms, 99):>9.0f}"
            f"{max(ms):>9.0f}  {statuses}"
        )
    delays = [r.mail_seconds * 1000 for r in result.rounds if r.mail_seconds is not None]
    if delays:
        print(
            f"  {'mail (303 → in the mailbox)':<30}{len(delays):>9}{percentile(delays, 50):>9.0f}"
            f"{percentile(delays, 99):>9.0f}{max(delays):>9.0f}"
        )
    failures = Counter(f"{r.failure.step}: {r.failure.problem[:160]}" for r in result.rounds if r.failure)
    examples = {f"{r.failure.step}: {r.failure.problem[:160]}": r.failure for r in result.rounds if r.failure}
    for problem, count in failures.most_common(10):
        example = examples[problem].request_id
        print(f"  FAILED x{count}  {problem}{f' (e.g. request id {example})' if example else ''}")
    print("\nChecks")
    for check in found.checks:
        print(f"  [{'PASS' if check.ok else 'FAIL'}] {check.name:<36} {check.detail}")
    if found.notes:
        print("\nNotes")
        for note in found.notes:
            print(f"  {note}")
    print(f"\nResult: {'PASS' if found.ok else 'FAIL'}")


# --- the run ---------------------------------------------------------------------------------


def run(knobs: Knobs, cleanup: contextlib.ExitStack) -> bool:
    """Every step, in order; True when every check passed. Raises BenchError when it cannot run."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    database = prepare_database(LOADTEST_DATABASE)
    pool_size = db_pool_size()
    describe(database, knobs, pool_size)
    servers = start_servers(cleanup, database.url, pool_size)
    sampler = ConnectionSampler(database.url, servers.groups)
    sampler.start()
    cleanup.callback(sampler.stop)
    print(f"\nServers up (web {servers.web.url}); {knobs.rounds} rounds ...", flush=True)
    result = asyncio.run(load(servers.web.url, database.url, knobs, secrets.token_hex(3)))
    settled = settle(database.url)
    sampler.stop()
    stops = [stop_server(servers.web), stop_server(servers.worker)]
    left = connections_left(database.url)

    found = Findings()
    check_answers(result, found, knobs)
    check_mail(database.url, result, servers.worker.log_path, found)
    check_outbox(database.url, found)
    check_profiles(database.url, result, found)
    ok, said = audit_verify(servers.env)
    found.add("audit chain verifies", ok, said)
    check_connections(sampler, left, pool_size, found)
    found.add(
        "servers stop on SIGTERM",
        all(stop.clean for stop in stops),
        "; ".join(
            f"{stop.name} in {stop.seconds:.1f} s, exit {stop.status}{'' if stop.group_empty else ', processes left'}"
            for stop in stops
        ),
    )
    started_late = jobs_started_after_shutdown(servers.worker.log_path)
    if started_late:
        found.notes.append("job worker: jobs it began after it had started shutting down:")
        found.notes.extend(f"    {line}" for line in started_late)
    if not settled.startswith("0 outbox rows unsent, 0 "):
        found.notes.append(f"after {SETTLE_TIMEOUT:.0f} s of waiting for the queue: {settled}")
    server_errors(result, [servers.web.log_path, servers.worker.log_path], found)
    report(result, found)
    return found.ok


def _interrupt(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """Run the load test: 0 when every check passed, 1 when one failed, 2 when it could not run."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        knobs = Knobs.from_env()
        with contextlib.ExitStack() as cleanup:
            ok = run(knobs, cleanup)
    except (BenchError, psycopg.Error, httpx.HTTPError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"\nloadtest could not run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nloadtest interrupted; its servers are stopped", file=sys.stderr)
        return 2
    except Exception:  # a bug of the load test itself, not a finding about Gatehouse
        traceback.print_exc()
        print("\nloadtest could not run (see the traceback); its servers are stopped", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
