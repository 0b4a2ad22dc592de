"""`make bench`: how fast Gatehouse serves a signed-in page, measured against a bare Litestar floor.

1. Database `gatehouse_bench` on DATABASE_URL's server (else the embedded one), dropped, recreated
   and migrated to `heads`.
2. Gatehouse under Granian (2 workers, APP_ENV=prod) and scripts/bench_baseline.py (2 workers, a
   pool of the same size), both on that database.
3. Users inserted directly (confirmed, production argon2id hash); one signs in through the form.
4. wrk: a warm-up, then interleaved rounds of the baseline page and GET /settings/profile.
5. Storm: 50 concurrent sign-ins (half right passwords, half unknown addresses) while 8
   connections load the profile page.

Knobs (environment): BENCH_DURATION seconds per wrk run (10), BENCH_ROUNDS (2), BENCH_CONNECTIONS
(32). A benchmark, not a test: exit 0 when it ran, targets met or not; 1 when it could not run;
2 when wrk is missing. Servers are stopped on every exit, Ctrl-C included. See docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

import httpx
import psycopg
from argon2 import PasswordHasher, Type

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench_support import (
    BIN,
    ROOT,
    STATUS_COUNTER_LUA,
    BenchError,
    Server,
    WrkResult,
    cookie_header,
    cookies_set_by,
    csrf_token_in,
    free_port,
    mean,
    no_cookie_jar,
    percentile,
    run_wrk,
    start_granian,
    verdict,
    wait_healthy,
)
from scripts.embedded_pg import ensure_database, plain_url, start_embedded_server, with_database

BENCH_DATABASE = "gatehouse_bench"
WORK_DIR = ROOT / ".dev" / "bench"  # logs and the wrk script; .dev/ is git-ignored
WORKERS = 2
WRK_THREADS = 2
WARMUP_SECONDS = 3
PROFILE_PATH = "/settings/profile"

PASSWORD = "bench horse battery staple"  # noqa: S105 - a throwaway account in a throwaway database
PAGE_USER = "bench@example.com"
STORM_SIZE = 50
STORM_ACCOUNTS = [f"storm-{i:02d}@example.com" for i in range(STORM_SIZE // 2)]  # sign in with PASSWORD
STORM_LOAD_CONNECTIONS = 8
STORM_WARMUP = 1.0  # seconds of page load discarded before the idle measurement
STORM_IDLE = 5.0  # seconds of page load measured just before the storm
STORM_TIMEOUT = 120.0  # seconds the 50 sign-ins may take in all

TARGET_RATIO = 0.6
TARGET_STORM_FACTOR = 3.0
WRK_MISSING = "wrk not found: install it with your package manager, e.g. apt-get install wrk"


@dataclass(frozen=True)
class Knobs:
    """What the environment may change."""

    duration: int
    rounds: int
    connections: int

    @classmethod
    def from_env(cls) -> Knobs:
        """BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS, or the defaults."""
        return cls(
            duration=_positive_int("BENCH_DURATION", 10),
            rounds=_positive_int("BENCH_ROUNDS", 2),
            connections=max(WRK_THREADS, _positive_int("BENCH_CONNECTIONS", 32)),
        )


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BenchError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


# --- database --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """The bench database and where it lives."""

    url: str
    embedded: bool
    server_version: str


def prepare_database(name: str = BENCH_DATABASE) -> Database:
    """Drop and recreate database `name`, migrate it to heads, report the server's version."""
    configured = os.environ.get("DATABASE_URL", "")
    server = configured or start_embedded_server()  # the embedded one stops when this script exits
    try:
        ensure_database(with_database(server, "postgres"), name, recreate=True)
    except psycopg.Error as exc:
        raise BenchError(f"cannot create database {name}: {exc}") from exc
    url = with_database(server, name)
    migrate(url)
    return Database(url, embedded=not configured, server_version=query_one(url, "SHOW server_version"))


def migrate(url: str) -> None:
    """`alembic upgrade heads` against `url`, as `make migrate` runs it."""
    done = subprocess.run(
        [str(BIN / "alembic"), "upgrade", "heads"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"migrations failed:\n{done.stderr[-3000:]}")


def query_one(url: str, statement: str) -> str:
    """The single value `statement` returns."""
    with psycopg.connect(plain_url(url)) as conn:
        row = conn.execute(statement).fetchone()
    return str(row[0]) if row else ""


def production_hash(password: str) -> str:
    """An argon2id hash made with Gatehouse's production profile (so no rehash at sign-in)."""
    from app.auth.core.policy import PRODUCTION_ARGON2 as PROFILE

    hasher = PasswordHasher(
        time_cost=PROFILE.time_cost,
        memory_cost=PROFILE.memory_kib,
        parallelism=PROFILE.parallelism,
        type=Type.ID,
    )
    return hasher.hash(password)


def insert_users(url: str, emails: list[str]) -> dict[str, uuid.UUID]:
    """Confirmed, active users with PASSWORD (lower-case ASCII addresses are their own canonical form)."""
    password_hash, now = production_hash(PASSWORD), datetime.now(UTC)
    ids = {email: uuid.uuid4() for email in emails}
    rows = [(ids[email], email, email, password_hash, now, now, now, now) for email in emails]
    try:
        with psycopg.connect(plain_url(url)) as conn:
            conn.cursor().executemany(
                "INSERT INTO users (id, email, email_canonical, display_name, password_hash, confirmed_at,"
                " is_active, password_changed_at, created_at, updated_at)"
                " VALUES (%s, %s, %s, '', %s, %s, true, %s, %s, %s)",
                rows,
            )
    except psycopg.Error as exc:
        raise BenchError(f"cannot insert the users (has the users table changed?): {exc}") from exc
    return ids


# --- servers ---------------------------------------------------------------------------------


def db_pool_size() -> int:
    """DB_POOL_SIZE as Gatehouse reads it (environment, `.env`, or the settings' default)."""
    from app.settings import Settings

    return Settings(app_env="dev").db_pool_size  # dev: only to skip prod's checks while reading


def gatehouse_env(database_url: str, port: int, pool_size: int) -> dict[str, str]:
    """Production settings on plain http://127.0.0.1 (the settings allow it)."""
    return {
        **os.environ,
        "APP_ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "DB_POOL_SIZE": str(pool_size),
        # Each storm sign-in comes from its own address, as behind a real proxy: else the
        # per-address limit (10 POSTs a minute) answers 429 to nearly all of them.
        "TRUSTED_PROXIES": '["127.0.0.1"]',
    }


def start_servers(cleanup: contextlib.ExitStack, database_url: str, pool_size: int) -> tuple[Server, Server]:
    """Gatehouse and the baseline, both healthy; `cleanup` stops them."""
    port = free_port()
    gatehouse = start_granian(
        "gatehouse",
        "app.asgi:create_app",
        port=port,
        env=gatehouse_env(database_url, port, pool_size),
        log_path=WORK_DIR / "gatehouse.log",
        workers=WORKERS,
    )
    cleanup.callback(gatehouse.stop)
    baseline = start_granian(
        "baseline",
        "scripts.bench_baseline:create_app",
        port=free_port(),
        env={**os.environ, "DATABASE_URL": database_url, "DB_POOL_SIZE": str(pool_size)},
        log_path=WORK_DIR / "baseline.log",
        workers=WORKERS,
    )
    cleanup.callback(baseline.stop)
    wait_healthy(gatehouse)
    wait_healthy(baseline)
    return gatehouse, baseline


# --- signing in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginForm:
    """A fetched sign-in form: the CSRF cookie it set and the token it carries."""

    cookies: dict[str, str]
    token: str


async def fetch_login_form(client: httpx.AsyncClient) -> LoginForm:
    """GET /login as a new visitor."""
    response = await client.get("/login")
    if response.status_code != 200:
        raise BenchError(f"GET /login answered {response.status_code}")
    return LoginForm(cookies_set_by(response), csrf_token_in(response.text))


async def post_login(
    client: httpx.AsyncClient, form: LoginForm, email: str, password: str, address: str | None = None
) -> httpx.Response:
    """POST the sign-in form (from `address`, via X-Forwarded-For, when given)."""
    headers = {"Cookie": cookie_header(form.cookies)}
    if address:
        headers["X-Forwarded-For"] = address
    data = {"email": email, "password": password, "_csrf_token": form.token, "next": PROFILE_PATH}
    return await client.post("/login", data=data, headers=headers)


async def signed_in_cookie(server: Server, email: str) -> str:
    """Sign `email` in through the form; return the Cookie header of that browser."""
    async with httpx.AsyncClient(base_url=server.url, cookies=no_cookie_jar(), timeout=30) as client:
        form = await fetch_login_form(client)
        response = await post_login(client, form, email, PASSWORD)
        if response.status_code != 303:
            raise BenchError(f"sign-in answered {response.status_code}, not 303:\n{response.text[:500]}")
        cookies = {**form.cookies, **cookies_set_by(response)}
        cookie = cookie_header(cookies)
        await check_profile_page(client, cookie, email)
    return cookie


async def check_profile_page(client: httpx.AsyncClient, cookie: str, email: str) -> None:
    """Fail loudly unless the profile page answers 200 with this user's page (not a redirect)."""
    response = await client.get(PROFILE_PATH, headers={"Cookie": cookie})
    if response.status_code != 200:
        where = response.headers.get("location", "")
        raise BenchError(f"GET {PROFILE_PATH} with the session answered {response.status_code} {where}")
    if html.escape(email) not in response.text:
        raise BenchError(f"GET {PROFILE_PATH} answered 200 but not with {email}'s page")


# --- throughput ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A page wrk loads."""

    name: str
    url: str
    headers: dict[str, str]


def wrk_script() -> Path:
    """The status-counting Lua script, written where wrk can read it."""
    path = WORK_DIR / "status.lua"
    path.write_text(STATUS_COUNTER_LUA)
    return path


def throughput(targets: list[Target], knobs: Knobs) -> dict[str, list[WrkResult]]:
    """Warm every target up, then run the rounds interleaved, printing each run."""
    script = wrk_script()
    for target in targets:
        load(target, WARMUP_SECONDS, knobs, script)
    results: dict[str, list[WrkResult]] = {target.name: [] for target in targets}
    for round_number in range(1, knobs.rounds + 1):
        for target in targets:
            result = load(target, knobs.duration, knobs, script)
            results[target.name].append(result)
            print(f"  round {round_number}  {target.name:<10} {_wrk_line(result)}")
    return results


def load(target: Target, duration: int, knobs: Knobs, script: Path) -> WrkResult:
    """One wrk run against `target`."""
    return run_wrk(
        target.url,
        duration=duration,
        connections=knobs.connections,
        threads=WRK_THREADS,
        script=script,
        headers=target.headers,
    )


def _wrk_line(result: WrkResult) -> str:
    statuses = ", ".join(f"{status}x{count}" for status, count in sorted(result.statuses.items()))
    errors = f", socket errors {result.socket_errors}" if result.socket_errors else ""
    return (
        f"{result.requests_per_second:>8.0f} req/s  p50 {result.p50_ms:>7.2f} ms  "
        f"p99 {result.p99_ms:>7.2f} ms  [{statuses}{errors}]"
    )


def report_throughput(results: dict[str, list[WrkResult]], knobs: Knobs) -> None:
    """The table: mean over rounds per server, and the ratio against its target."""
    wrk = f"wrk -t{WRK_THREADS} -c{knobs.connections} -d{knobs.duration}s"
    print(f"\nThroughput (mean of {knobs.rounds} rounds, {wrk})")
    print(f"  {'':<22}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'non-200':>10}")
    for name, runs in results.items():
        rate, p50, p99 = (
            mean([getattr(r, key) for r in runs]) for key in ("requests_per_second", "p50_ms", "p99_ms")
        )
        bad = sum(r.non_200 + r.socket_errors for r in runs)
        print(f"  {name:<22}{rate:>9.0f}{p50:>10.2f}{p99:>10.2f}{bad:>10}")
    base = mean([r.requests_per_second for r in results["baseline"]])
    ours = mean([r.requests_per_second for r in results["gatehouse"]])
    ratio = ours / base if base else float("nan")
    met = verdict(ratio >= TARGET_RATIO)
    print(f"  ratio gatehouse/baseline: {ratio:.2f}x   target ≥ {TARGET_RATIO}: {met}")
    if any(r.non_200 or r.socket_errors for r in results["gatehouse"]):
        print("  WARNING: some Gatehouse answers were not 200; its figures are not of the profile page alone")


# --- storm -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request: when it started (monotonic), how long it took, its status (0: no answer)."""

    started: float
    seconds: float
    status: int


async def timed(request: Awaitable[httpx.Response]) -> Sample:
    """Await an httpx request coroutine, timing it; transport errors become status 0."""
    started = time.monotonic()
    try:
        status = (await request).status_code
    except httpx.HTTPError:
        status = 0
    return Sample(started, time.monotonic() - started, status)


async def load_page(
    client: httpx.AsyncClient, cookie: str, samples: list[Sample], stop: asyncio.Event
) -> None:
    """One connection's worth of back-to-back profile page requests, until `stop`."""
    while not stop.is_set():
        samples.append(await timed(client.get(PROFILE_PATH, headers={"Cookie": cookie})))


def storm_emails() -> list[str]:
    """The storm's addresses: a real account, an address nobody has, a real account..."""
    unknown = [f"nobody-{i:02d}@example.com" for i in range(STORM_SIZE - len(STORM_ACCOUNTS))]
    return [email for pair in zip(STORM_ACCOUNTS, unknown, strict=True) for email in pair]


@dataclass(frozen=True)
class StormResult:
    """The page before and during the storm, and the sign-ins."""

    idle: list[Sample]
    during: list[Sample]
    sign_ins: list[Sample]
    window: float


async def storm(server: Server, page_cookie: str) -> StormResult:
    """Load the page, measure it idle, then fire STORM_SIZE sign-ins at once and measure it again."""
    limits = httpx.Limits(max_connections=STORM_SIZE, max_keepalive_connections=STORM_SIZE)
    timeout = httpx.Timeout(STORM_TIMEOUT - 10)
    async with (
        httpx.AsyncClient(
            base_url=server.url, cookies=no_cookie_jar(), limits=limits, timeout=timeout
        ) as signer,
        httpx.AsyncClient(
            base_url=server.url,
            cookies=no_cookie_jar(),
            limits=httpx.Limits(max_connections=STORM_LOAD_CONNECTIONS),
            timeout=timeout,
        ) as loader,
    ):
        emails = storm_emails()
        forms = [await fetch_login_form(signer) for _ in emails]
        samples: list[Sample] = []
        stop = asyncio.Event()
        loaders = [
            asyncio.create_task(load_page(loader, page_cookie, samples, stop))
            for _ in range(STORM_LOAD_CONNECTIONS)
        ]
        try:
            await asyncio.sleep(STORM_WARMUP)
            idle_from = time.monotonic()
            await asyncio.sleep(STORM_IDLE)
            storm_from = time.monotonic()
            sign_ins = await fire(signer, forms, emails)
            storm_to = time.monotonic()
        finally:
            stop.set()
            await asyncio.wait(loaders, timeout=STORM_TIMEOUT)
    idle = [s for s in samples if idle_from <= s.started and s.started + s.seconds <= storm_from]
    during = [s for s in samples if storm_from <= s.started <= storm_to]
    return StormResult(idle, during, sign_ins, storm_to - storm_from)


async def fire(client: httpx.AsyncClient, forms: list[LoginForm], emails: list[str]) -> list[Sample]:
    """All the sign-ins at once, each from its own address; at most STORM_TIMEOUT in all."""
    attempts = (
        timed(post_login(client, form, email, PASSWORD, address=f"10.77.0.{i + 1}"))
        for i, (form, email) in enumerate(zip(forms, emails, strict=True))
    )
    try:
        return await asyncio.wait_for(asyncio.gather(*attempts), STORM_TIMEOUT)
    except TimeoutError as exc:
        raise BenchError(f"the sign-ins did not all finish within {STORM_TIMEOUT:.0f} s") from exc


def report_storm(result: StormResult) -> None:
    """Idle against storm latency, sign-in outcomes, 5xx counts, and the targets."""
    print(
        f"\nStorm: {STORM_SIZE} concurrent POST /login ({STORM_SIZE // 2} right passwords, the rest unknown"
        f" addresses) during a {STORM_LOAD_CONNECTIONS}-connection load of {PROFILE_PATH} (httpx)"
    )
    print(f"  {'':<28}{'requests':>9}{'p50 ms':>10}{'p99 ms':>10}{'5xx':>6}")
    rows = (
        (f"page idle ({STORM_IDLE:.0f} s before)", result.idle),
        (f"page during storm ({result.window:.1f} s)", result.during),
        ("sign-ins", result.sign_ins),
    )
    for label, samples in rows:
        seconds = [s.seconds * 1000 for s in samples]
        print(
            f"  {label:<28}{len(samples):>9}{percentile(seconds, 50):>10.1f}"
            f"{percentile(seconds, 99):>10.1f}{_server_errors(samples):>6}"
        )
    outcomes = Counter(s.status for s in result.sign_ins)
    described = ", ".join(f"{status or 'no answer'}x{n}" for status, n in sorted(outcomes.items()))
    page_other = Counter(s.status for s in result.idle + result.during if s.status != 200)
    longest = max((s.seconds for s in result.sign_ins), default=0.0)
    print(f"  sign-in outcomes: {described}; longest sign-in {longest:.2f} s")
    if page_other:
        print(
            "  page answers other than 200: "
            + ", ".join(f"{k or 'no answer'}x{v}" for k, v in sorted(page_other.items()))
        )
    idle_p99 = percentile([s.seconds for s in result.idle], 99)
    storm_p99 = percentile([s.seconds for s in result.during], 99)
    errors = sum(_server_errors(samples) for _, samples in rows)
    limit = TARGET_STORM_FACTOR * idle_p99
    print(
        f"  storm p99 {storm_p99 * 1000:.1f} ms ≤ {TARGET_STORM_FACTOR:.0f}x idle p99 "
        f"({limit * 1000:.1f} ms): {verdict(storm_p99 <= limit)}"
    )
    print(f"  0 5xx (page and sign-ins): {verdict(errors == 0)} ({errors})")


def _server_errors(samples: list[Sample]) -> int:
    return sum(1 for s in samples if s.status >= 500)


# --- the run ---------------------------------------------------------------------------------


def describe_machine(database: Database, pool_size: int) -> None:
    """Where and what is measured."""
    print("Gatehouse benchmark")
    print(f"  commit      {git_revision()}")
    python, postgres = platform.python_version(), database.server_version
    print(f"  machine     {os.cpu_count()} CPUs, Python {python}, PostgreSQL {postgres}")
    where = "embedded server (.dev/pg)" if database.embedded else "DATABASE_URL's server"
    print(f"  database    {BENCH_DATABASE} on the {where}, migrated to heads")
    print(
        f"  gatehouse   Granian {WORKERS} workers, APP_ENV=prod on plain http (settings allow it; its Secure"
        f" cookies are sent by the bench itself), production argon2id, DB_POOL_SIZE={pool_size}"
    )
    print(f"  server      Granian {version('granian')}, Litestar {version('litestar')}")
    print(f"  baseline    scripts/bench_baseline.py: Granian {WORKERS} workers, asyncpg pool of {pool_size}")
    print(f"  logs        {WORK_DIR.relative_to(ROOT)}/")


def git_revision() -> str:
    """Short commit, marked when tracked files have uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def run(knobs: Knobs, cleanup: contextlib.ExitStack) -> None:
    """Every step, in order; raises BenchError when one cannot be done."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    database = prepare_database()
    ids = insert_users(database.url, [PAGE_USER, *STORM_ACCOUNTS])
    pool_size = db_pool_size()
    describe_machine(database, pool_size)
    gatehouse, baseline = start_servers(cleanup, database.url, pool_size)
    page_cookie = asyncio.run(signed_in_cookie(gatehouse, PAGE_USER))
    print(f"\nSigned in as {PAGE_USER}; {PROFILE_PATH} answers 200 with their page.\n")
    targets = [
        Target("baseline", f"{baseline.url}/users/{ids[PAGE_USER]}", {}),
        Target("gatehouse", gatehouse.url + PROFILE_PATH, {"Cookie": page_cookie}),
    ]
    report_throughput(throughput(targets, knobs), knobs)
    report_storm(asyncio.run(storm(gatehouse, page_cookie)))


def _interrupt(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """Run the benchmark; 0 when it ran, 1 when it could not, 2 without wrk."""
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        knobs = Knobs.from_env()
        with contextlib.ExitStack() as cleanup:
            run(knobs, cleanup)
    except (BenchError, httpx.HTTPError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"\nbench could not run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench interrupted; its servers are stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
