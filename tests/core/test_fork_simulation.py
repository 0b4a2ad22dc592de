"""A customised fork takes two core releases from upstream, end to end, on copies of this very tree.

The module builds, once, in a temporary folder:

- `upstream`: a git repository holding exactly the files `git ls-files` lists here;
- `fork`: a clone of it (remote `upstream`) that commits what a real product changes: its name,
  colours and wording, `/register` renamed to `/signup`, a `company` column with its migration, a
  signed-in page, its own adapter rule and its own tests;
- then two upstream core releases made with `python -m app.auth.core.releases release` (what
  `make core-release` runs): a patch release (0.1.1 when the core is at 0.1.0), a security fix inside
  the mailed-token flow with its regression test, and a minor release (0.2.0), a new core column
  with its migration.

The first test takes both releases into the fork and checks that the fork still migrates, passes the
core's tests and its own, and runs exactly the released core. The second plays a fork that edited
the core itself: the release stops on a conflict that names the file, and `git cherry-pick --abort`
puts everything back.

Every git and Python command runs as a bounded subprocess, with the caller's git configuration kept
out (as in app/auth/core/tests/test_releases.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql

from scripts.embedded_pg import ensure_database, plain_url, with_database
from tests.support.database import server_url

# `apply` runs the core's whole suite inside the fork: on a busy machine that outlasts the default.
pytestmark = [pytest.mark.heavy(seconds=80), pytest.mark.timeout(400)]

CORE = "app/auth/core"
GIT_TIMEOUT = 30
PYTHON_TIMEOUT = 60
PYTEST_TIMEOUT = 240  # the core's own tests, run inside the fork; generous for a busy machine

CORE_MIGRATION_REV = "c0de20261201"
FORK_MIGRATION_REV = "ac3e20261210"


def _next_versions() -> tuple[str, str]:
    """Upstream's two simulated releases after the core's current version: a patch and a minor."""
    major, minor, patch = (
        int(part) for part in (Path(CORE) / "VERSION").read_text().strip().split("+")[0].split(".")
    )
    return f"{major}.{minor}.{patch + 1}", f"{major}.{minor + 1}.0"


PATCH, MINOR = _next_versions()
"""The simulated security fix and feature release (0.1.1 and 0.2.0 when the core is at 0.1.0)."""
PENDING_LINE = re.compile(r"^(\d+\.\d+\.\d+)  [0-9a-f]{12}(  \[security\])?$", re.MULTILINE)

# --- what the fork adds

FORK_ADAPTER_METHOD = '''\
    """Mail through the job queue, readable device names, and only Acme addresses may sign up."""

    def is_open_for_signup(self, request: Request[Any, Any, Any], email: str) -> bool:
        """Acme: accounts are for people with an @example.com address."""
        return email.lower().endswith("@example.com")
'''

FORK_REPORTS = '''\
"""Acme's reports: a page only signed-in people see."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get

from app.auth.guards import requires_user

__all__ = ("reports",)


@get("/reports", name="reports", guards=[requires_user], media_type=MediaType.TEXT, include_in_schema=False)
async def reports(request: Request[Any, Any, Any]) -> str:
    """The signed-in user's reports (for now, whose they are)."""
    return f"Reports for {request.user.email} ({request.user.company})"
'''

FORK_MIGRATION = '''\
"""host: the company each Acme user works for

Revision ID: {revision}
Revises: {down_revision}
Create Date: 2026-12-10 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "{revision}"
down_revision: str | None = "{down_revision}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("company", sa.String(length=100), nullable=False, server_default=""))
    op.alter_column("users", "company", server_default=None)


def downgrade() -> None:
    op.drop_column("users", "company")
'''

FORK_TESTS = '''\
"""Acme's product on top of Gatehouse: who may sign up, where, the reports page, brand and policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.auth.core.clock import FrozenClock
from app.auth.routes.register import CLOSED_FOR_ADDRESS
from tests.support.accounts import DEFAULT_PASSWORD, Accounts
from tests.support.database import make_settings
from tests.support.web import BASE_URL, WebClient

ACME_POLICY = '{"remember_me_lifetime": 604800}'


async def test_signup_refuses_an_address_outside_example_com(web: WebClient) -> None:
    await web.get("/signup")
    response = await web.submit("/signup", {"email": "someone@elsewhere.org", "password": DEFAULT_PASSWORD})
    assert response.status_code == 422
    assert CLOSED_FOR_ADDRESS in response.text


async def test_signup_with_an_example_com_address_goes_on_to_the_inbox(web: WebClient) -> None:
    page = await web.get("/signup")
    assert "Open an Acme account" in page.text
    assert 'action="/signup"' in page.text
    response = await web.submit("/signup", {"email": "new@example.com", "password": DEFAULT_PASSWORD})
    assert response.status_code == 303, response.text[:500]
    assert response.headers["location"] == "/signup/check-inbox"
    assert (await web.get("/register")).status_code == 404


async def test_reports_need_a_signed_in_user(web: WebClient, accounts: Accounts, db: AsyncSession) -> None:
    response = await web.get("/reports", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/reports"
    user = await accounts.create("ada@example.com")
    user.company = "Acme Research"
    await db.commit()
    await accounts.login(web, "ada@example.com")
    page = await web.get("/reports")
    assert page.status_code == 200
    assert page.text == "Reports for ada@example.com (Acme Research)"


async def test_the_sign_in_page_wears_the_acme_brand(web: WebClient) -> None:
    page = await web.get("/login")
    assert "<title>Sign in · Acme Portal</title>" in page.text
    assert "Welcome back to Acme" in page.text
    assert 'href="/signup"' in page.text
    assert 'href="/register"' not in page.text
    stylesheet = re.search(r'href="(/static/css/app\\.css[^"]*)"', page.text)
    assert stylesheet is not None
    css = await web.get(stylesheet.group(1))
    assert "--color-primary: light-dark(#0f766e, #5eead4);" in css.text


@pytest.fixture
async def acme_web(
    monkeypatch: pytest.MonkeyPatch, database_url: str, db: AsyncSession, clock: FrozenClock
) -> AsyncIterator[WebClient]:
    """The app as Acme deploys it: SECURITY_POLICY set in the environment."""
    monkeypatch.setenv("SECURITY_POLICY", ACME_POLICY)
    app = create_app(make_settings(database_url), clock=clock)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield WebClient(client)


async def test_remember_me_lasts_as_long_as_the_settings_say(acme_web: WebClient) -> None:
    page = await acme_web.get("/login")
    assert "Keep me signed in on this device for 7 days" in page.text
'''

# --- what upstream releases

SECURITY_FIX_TEST = '''\
"""Spending a mailed token by its link: a code typed wrong too often kills the link as well."""

from __future__ import annotations

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.identity import canonical_email
from app.auth.core.mail_tokens import Purpose, issue_email_token, spend_token
from app.auth.core.toolkit import security_of


async def issue(app: Litestar, db: AsyncSession, email: str, *, wrong_codes: int) -> str:
    """A confirmation link with a code, after `wrong_codes` wrong tries of that code; its token."""
    security = security_of(app)
    user = security.users()
    user.email, user.email_canonical = email, canonical_email(email)
    db.add(user)
    await db.flush()
    issued = await issue_email_token(
        db, security, user=user, purpose=Purpose.CONFIRM_EMAIL, email=email, with_code=True, browser_nonce="n"
    )
    issued.row.code_attempts = wrong_codes
    await db.flush()
    return issued.token


async def test_a_link_whose_code_was_guessed_too_often_is_dead(app: Litestar, db: AsyncSession) -> None:
    security = security_of(app)
    token = await issue(app, db, "guessed@example.com", wrong_codes=security.policy.code_max_attempts)
    assert await spend_token(db, security, token, Purpose.CONFIRM_EMAIL) is None


async def test_a_link_with_tries_left_still_works_once(app: Litestar, db: AsyncSession) -> None:
    security = security_of(app)
    token = await issue(app, db, "careful@example.com", wrong_codes=security.policy.code_max_attempts - 1)
    assert await spend_token(db, security, token, Purpose.CONFIRM_EMAIL) is not None
    assert await spend_token(db, security, token, Purpose.CONFIRM_EMAIL) is None
'''

CORE_MIGRATION = '''\
"""core: the country a session started in

Revision ID: {revision}
Revises: {down_revision}
Create Date: 2026-12-01 10:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "{revision}"
down_revision: str | None = "{down_revision}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("auth_sessions", sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column("auth_sessions", "country")
'''

SECURITY_ENTRY = """\
### Security

- `mail_tokens`: a token whose code was typed wrong `code_max_attempts` times can no longer be spent
  by its link either; before, the link in the same mail still worked after the code had died.
"""

ADDED_ENTRY = """\
### Added

- `models`: `auth_sessions.country`, the ISO 3166 code of where a session started, when known
  (core migration `{revision}`).
"""


# --- running things


def hermetic_env(**extra: str) -> dict[str, str]:
    """The environment for every subprocess: no git settings or state of the caller, no outer pytest options.

    (Nor the outer pytest-xdist worker's name, which would rename the inner run's database.)
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GIT_", "PYTEST_XDIST_")) and key not in {"PYTHONPATH", "PYTEST_ADDOPTS"}
    }
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_EDITOR="true"
    )
    env.update(extra)
    return env


def run(
    cwd: Path, *command: str, env: dict[str, str], timeout: float = GIT_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command (never a shell) with a time limit; fail the test with its output when `check` and it fails."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` in {cwd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def git(repo: Path, *args: str, env: dict[str, str], check: bool = True) -> str:
    """Run git in `repo`; its stripped output."""
    return run(repo, "git", *args, env=env, check=check).stdout.strip()


def python(
    repo: Path, *args: str, env: dict[str, str], timeout: float = PYTHON_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter (the project's .venv) in `repo`, so `app` is imported from that repository."""
    return run(repo, sys.executable, *args, env=env, timeout=timeout, check=False)


def releases(
    repo: Path, *args: str, env: dict[str, str], timeout: float = PYTHON_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`python -m app.auth.core.releases ...` in `repo`."""
    return python(repo, "-m", "app.auth.core.releases", *args, env=env, timeout=timeout)


def output(done: subprocess.CompletedProcess[str]) -> str:
    """What a command printed, for assertion messages."""
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def pending_versions(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The versions `releases pending` listed, in its order."""
    return [match.group(1) for match in PENDING_LINE.finditer(done.stdout)]


# --- editing files the way a person would


def edit(repo: Path, relative: str, old: str, new: str, *, after: str | None = None, count: int = 1) -> None:
    """Replace `old` with `new` in a file (`count` times, or everywhere when 0), after `after` when given."""
    path = repo / relative
    text = path.read_text(encoding="utf-8")
    head, tail = "", text
    if after is not None:
        assert after in text, f"{relative} no longer contains {after!r}: update {Path(__file__).name}"
        head, anchor, tail = text.partition(after)
        head += anchor
    assert old in tail, f"{relative} no longer contains {old!r}: update {Path(__file__).name}"
    tail = tail.replace(old, new) if count == 0 else tail.replace(old, new, count)
    path.write_text(head + tail, encoding="utf-8")


def write(repo: Path, relative: str, text: str) -> None:
    """Create a file, with its folders."""
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def add_changelog_entry(repo: Path, version: str, sections: str) -> None:
    """Put `## [version] - (unreleased)` on top of the core's changelog, as upstream does before releasing."""
    path = repo / CORE / "CHANGELOG.md"
    intro, first, rest = path.read_text(encoding="utf-8").partition("## [")
    assert first, "the core's CHANGELOG.md has no release heading"
    path.write_text(
        f"{intro}## [{version}] - (unreleased)\n\n{sections.strip()}\n\n{first}{rest}", encoding="utf-8"
    )


def branch_head(repo: Path, branch: str) -> str:
    """The head revision of an Alembic branch (`core` or `host`) in `repo`."""
    script = ScriptDirectory.from_config(Config(str(repo / "alembic.ini")))
    (head,) = script.get_revisions(f"{branch}@head")
    assert head is not None
    return head.revision


# --- building the repositories


REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository this test file belongs to: its files are what upstream starts from."""


def tracked_files(root: Path) -> list[str]:
    """`git ls-files` of `root`, read with the caller's git configuration (`safe.directory`, say)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    return [name for name in run(root, "git", "ls-files", "-z", env=env).stdout.split("\0") if name]


def prepare(repo: Path, env: dict[str, str]) -> None:
    """An identity for commits, and the shared .venv linked in (a symlink `.venv/` in .gitignore misses)."""
    git(repo, "config", "user.name", "Fork Simulation", env=env)
    git(repo, "config", "user.email", "fork-simulation@example.com", env=env)
    with (repo / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
        exclude.write("/.venv\n")
    (repo / ".venv").symlink_to(Path(sys.prefix))
    probe = python(repo, "-c", "import app; print(app.__file__)", env=env)
    imported = Path(probe.stdout.strip()).resolve()
    assert imported.is_relative_to(repo.resolve()), f"`app` is not imported from {repo}: {output(probe)}"


def make_upstream(source: Path, upstream: Path, env: dict[str, str]) -> None:
    """`upstream`: the files git tracks in `source`, as they are in its work tree, in one commit."""
    upstream.mkdir()
    copied = 0
    for relative in tracked_files(source):
        src = source / relative
        if src.is_dir() and not src.is_symlink():  # a submodule
            continue
        if not src.exists() and not src.is_symlink():  # deleted in the work tree, not yet committed
            continue
        dst = upstream / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
        copied += 1
    assert copied > 100, f"only {copied} files copied from {source}"
    git(upstream, "init", "--quiet", "--initial-branch=main", env=env)
    prepare(upstream, env)
    git(upstream, "add", "--all", env=env)
    git(upstream, "commit", "--quiet", "--no-verify", "--message", "Gatehouse as it is today", env=env)


def customise(fork: Path, env: dict[str, str]) -> None:
    """Commit what Acme's product changes in its fork; nothing under app/auth/core."""
    # Name and colours.
    edit(fork, "app/settings.py", 'app_name: str = "Gatehouse"', 'app_name: str = "Acme Portal"')
    regenerated = python(fork, "scripts/settings_doc.py", env=env)
    assert regenerated.returncode == 0, output(regenerated)
    edit(
        fork,
        "templates/layouts/base.html",
        "a Litestar + htmx starter with real authentication and organizations.",
        "where Acme customers find their reports.",
    )
    edit(
        fork,
        "static/css/app.css",
        "--color-primary: light-dark(#4338ca, #8b93ff);",
        "--color-primary: light-dark(#0f766e, #5eead4);",
    )
    # Wording of the sign-in and registration pages.
    edit(fork, "templates/auth/login.html", "<h1>Sign in</h1>", "<h1>Welcome back to Acme</h1>")
    edit(fork, "templates/auth/login.html", "New here? ", "New to Acme? ")
    edit(
        fork, "templates/auth/register.html", "<h1>Create your account</h1>", "<h1>Open an Acme account</h1>"
    )
    edit(
        fork,
        "templates/auth/register.html",
        "We will send a link and a code to confirm your address.",
        "Use your @example.com work address; we will mail you a link and a code.",
    )
    # /register is /signup, in the routes and in every link and form that points there.
    edit(fork, "app/auth/routes/register.py", '"/register', '"/signup', count=0)
    for template in sorted((fork / "templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        if '"/register' in text:
            template.write_text(text.replace('"/register', '"/signup'), encoding="utf-8")
    assert 'href="/signup"' in (fork / "templates/auth/login.html").read_text(encoding="utf-8")
    # An extra column on users, with its migration on the host branch.
    edit(
        fork,
        "app/auth/models.py",
        'display_name: Mapped[str] = mapped_column(String(100), default="")\n',
        'display_name: Mapped[str] = mapped_column(String(100), default="")\n'
        '    company: Mapped[str] = mapped_column(String(100), default="")\n',
    )
    write(
        fork,
        f"migrations/versions/20261210_{FORK_MIGRATION_REV}_users_company.py",
        FORK_MIGRATION.format(revision=FORK_MIGRATION_REV, down_revision=branch_head(fork, "host")),
    )
    # ...loaded with every request, since its pages show it.
    edit(
        fork,
        "app/auth/security.py",
        'current_user_columns=("display_name", "created_at"),',
        'current_user_columns=("display_name", "created_at", "company"),',
    )
    # A page behind sign-in.
    write(fork, "app/reports.py", FORK_REPORTS)
    edit(
        fork,
        "app/asgi.py",
        "from app.settings import Settings\n",
        "from app.reports import reports\nfrom app.settings import Settings\n",
    )
    edit(fork, "app/asgi.py", "        healthz,\n", "        healthz,\n        reports,\n")
    # Its own adapter rule: only @example.com may register.
    edit(
        fork,
        "app/auth/adapter.py",
        "if TYPE_CHECKING:\n",
        "if TYPE_CHECKING:\n    from litestar import Request\n",
    )
    edit(
        fork,
        "app/auth/adapter.py",
        '    """Mail through the job queue, readable device names, a personal workspace for every new account,\n'
        '    and sign-in landing in an organization; every other decision as the core\'s default."""\n',
        FORK_ADAPTER_METHOD,
    )
    # Its own tests.
    write(fork, "tests/test_fork_product.py", FORK_TESTS)
    git(fork, "add", "--all", env=env)
    changed = git(fork, "diff", "--cached", "--name-only", env=env).splitlines()
    assert changed
    assert not [path for path in changed if path.startswith(CORE + "/")], changed
    git(
        fork,
        "commit",
        "--quiet",
        "--no-verify",
        "--message",
        "Acme: brand, /signup, company, reports",
        env=env,
    )


def release_security_fix(upstream: Path, env: dict[str, str]) -> None:
    """The patch release: spending a link checks its code's wrong tries too; with its regression test."""
    edit(
        upstream,
        f"{CORE}/mail_tokens.py",
        "            EmailToken.expires_at > now,\n",
        "            EmailToken.expires_at > now,\n"
        "            # A code typed wrong too often kills the link of the same mail too.\n"
        "            EmailToken.code_attempts < security.policy.code_max_attempts,\n",
        after="async def spend_token(",
    )
    edit(
        upstream,
        f"{CORE}/mail_tokens.py",
        "None when it is unknown, used or expired.",
        "None when it is unknown, used, expired or its code died.",
        after="async def spend_token(",
    )
    write(upstream, f"{CORE}/tests/test_mail_token_spending.py", SECURITY_FIX_TEST)
    add_changelog_entry(upstream, PATCH, SECURITY_ENTRY)
    made = releases(upstream, "release", PATCH, env=env)
    assert made.returncode == 0, output(made)


def release_session_country(upstream: Path, env: dict[str, str]) -> None:
    """The minor release: a new nullable column on auth_sessions, with its migration on the core branch."""
    edit(
        upstream,
        f"{CORE}/models.py",
        '    device_label: Mapped[str] = mapped_column(String(120), default="")\n',
        '    device_label: Mapped[str] = mapped_column(String(120), default="")\n'
        "    country: Mapped[str | None] = mapped_column(String(2), default=None)\n"
        '    """ISO 3166 code of where the session started, when known."""\n',
        after="class AuthSession(",
    )
    write(
        upstream,
        f"{CORE}/migrations/versions/20261201_{CORE_MIGRATION_REV}_core_the_country_a_session_started_in.py",
        CORE_MIGRATION.format(revision=CORE_MIGRATION_REV, down_revision=branch_head(upstream, "core")),
    )
    add_changelog_entry(upstream, MINOR, ADDED_ENTRY.format(revision=CORE_MIGRATION_REV))
    made = releases(upstream, "release", MINOR, env=env)
    assert made.returncode == 0, output(made)


@dataclass(frozen=True)
class Simulation:
    """The repositories and the database server the tests share."""

    tmp: Path
    upstream: Path
    fork: Path
    product: str
    """The fork's commit with Acme's changes (before any release was taken)."""
    releases: dict[str, str]
    """Release version -> upstream commit."""
    server: str
    """URL of the PostgreSQL server the test suite runs against."""
    env: dict[str, str]
    databases: list[str] = field(default_factory=list)
    """Scratch databases made on the server, dropped when the module is done."""

    def scratch_database(self, purpose: str) -> str:
        """A new, empty database on the server; its name."""
        name = f"fork_sim_{purpose}_{uuid.uuid4().hex[:10]}"
        self.databases.append(name)
        ensure_database(with_database(self.server, "postgres"), name, recreate=True)
        return name


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    """Upstream and Acme's fork of it, then upstream's patch (security) and minor releases."""
    env = hermetic_env()
    tmp = tmp_path_factory.mktemp("fork-simulation")
    upstream, fork = tmp / "upstream", tmp / "fork"
    make_upstream(REPO_ROOT, upstream, env)
    git(tmp, "clone", "--quiet", "--origin", "upstream", str(upstream), str(fork), env=env)
    prepare(fork, env)
    customise(fork, env)
    product = git(fork, "rev-parse", "HEAD", env=env)
    release_security_fix(upstream, env)
    first = git(upstream, "rev-parse", "HEAD", env=env)
    release_session_country(upstream, env)
    second = git(upstream, "rev-parse", "HEAD", env=env)
    server = server_url()
    simulation = Simulation(tmp, upstream, fork, product, {PATCH: first, MINOR: second}, server, env)
    yield simulation
    with psycopg.connect(plain_url(with_database(server, "postgres")), autocommit=True) as conn:
        for name in simulation.databases:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_fork_takes_both_releases_and_still_works(simulation: Simulation) -> None:
    fork, env = simulation.fork, simulation.env

    security = releases(fork, "pending", "--security", env=env)
    assert security.returncode == 1, output(security)
    assert pending_versions(security) == [PATCH], output(security)
    assert "[security]" in security.stdout
    every = releases(fork, "pending", env=env)
    assert every.returncode == 1, output(every)
    assert pending_versions(every) == [PATCH, MINOR], output(every)

    # As a fork runs it: the releases, then the core's tests (the patch's new one needs the database).
    apply_env = {
        **env,
        "DATABASE_URL": simulation.server,
        "TEST_DATABASE_NAME": simulation.scratch_database("apply"),
    }
    applied = releases(fork, "apply", "--all", env=apply_env, timeout=PYTEST_TIMEOUT)
    assert applied.returncode == 0, output(applied)
    assert "CONFLICT" not in applied.stdout
    assert "core tests: passed" in applied.stdout, output(applied)
    migration = (
        f"{CORE}/migrations/versions/20261201_{CORE_MIGRATION_REV}_core_the_country_a_session_started_in.py"
    )
    for line in (
        f"applied {PATCH}",
        f"applied {MINOR}",
        f"security core {MINOR}: clean",
        f"new migration: {migration}",
    ):
        assert line in applied.stdout, output(applied)
    assert applied.stdout.strip().splitlines()[-1] == "OK", output(applied)
    assert (fork / migration).is_file()
    assert git(fork, "status", "--porcelain", "--untracked-files=all", env=env) == ""
    # Only the core moved; every product change is still there.
    taken = git(fork, "diff", "--name-only", simulation.product, "HEAD", env=env).splitlines()
    assert taken
    assert all(path.startswith(CORE + "/") for path in taken), taken
    log = git(fork, "log", "--format=%B", f"{simulation.product}..HEAD", env=env)
    for version, sha in simulation.releases.items():
        assert f"Core-Release: {version}" in log
        assert f"(cherry picked from commit {sha})" in log
    assert "@example.com" in (fork / "app/auth/adapter.py").read_text(encoding="utf-8")
    again = releases(fork, "pending", env=env)
    assert again.returncode == 0, output(again)

    # The two branches of migrations (the core's new one, the fork's own) build the models' schema.
    database = simulation.scratch_database("alembic")
    db_env = {**env, "DATABASE_URL": with_database(simulation.server, database)}
    upgraded = python(fork, "-m", "alembic", "upgrade", "heads", env=db_env)
    assert upgraded.returncode == 0, output(upgraded)
    checked = python(fork, "-m", "alembic", "check", env=db_env)
    assert checked.returncode == 0, output(checked)
    with psycopg.connect(plain_url(db_env["DATABASE_URL"])) as conn:
        columns = set(
            conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name IN ('company', 'country')"
            ).fetchall()
        )
    assert columns == {("users", "company"), ("auth_sessions", "country")}

    # `apply` ran the whole core suite above ("core tests: passed"); here the fork's own tests run
    # beside the released regression test's module, under the fork's settings.
    test_env = {
        **env,
        "DATABASE_URL": simulation.server,
        "TEST_DATABASE_NAME": simulation.scratch_database("tests"),
    }
    tests = python(
        fork,
        "-m",
        "pytest",
        f"{CORE}/tests/test_mail_token_spending.py",
        "tests/test_fork_product.py",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        env=test_env,
        timeout=PYTEST_TIMEOUT,
    )
    assert tests.returncode == 0, output(tests)
    assert (
        "PASSED tests/test_fork_product.py::test_signup_refuses_an_address_outside_example_com"
        in tests.stdout
    )
    assert f"PASSED {CORE}/tests/test_mail_token_spending.py::" in tests.stdout

    status = python(fork, "-m", "app.auth.core.manifest", "--check", env=env)
    assert status.returncode == 0, output(status)
    assert f"security core {MINOR}: clean" in status.stdout


def test_a_fork_that_edited_the_core_gets_a_conflict_it_can_abort(simulation: Simulation) -> None:
    env = simulation.env
    fork = simulation.tmp / "fork-with-core-edit"
    git(simulation.tmp, "clone", "--quiet", str(simulation.fork), str(fork), env=env)
    git(fork, "reset", "--quiet", "--hard", simulation.product, env=env)
    git(fork, "remote", "add", "upstream", str(simulation.upstream), env=env)
    prepare(fork, env)
    # Acme patched the hole itself before upstream shipped the patch, on the very lines the fix touches.
    edit(
        fork,
        f"{CORE}/mail_tokens.py",
        "            EmailToken.expires_at > now,\n",
        "            EmailToken.expires_at > now,\n            EmailToken.code_attempts < 3,  # Acme hotfix\n",
        after="async def spend_token(",
    )
    git(fork, "commit", "--quiet", "--no-verify", "--all", "--message", "Acme: hotfix spend_token", env=env)
    head = git(fork, "rev-parse", "HEAD", env=env)
    status = git(fork, "status", "--porcelain", "--untracked-files=all", env=env)
    edited = (fork / CORE / "mail_tokens.py").read_text(encoding="utf-8")

    applied = releases(fork, "apply", "--all", "--no-tests", env=env)
    assert applied.returncode != 0, output(applied)
    assert f"CONFLICT applying core {PATCH}" in applied.stdout, output(applied)
    assert f"  {CORE}/mail_tokens.py" in applied.stdout.splitlines(), output(applied)
    assert f"git add {CORE}/mail_tokens.py && git cherry-pick --continue" in applied.stdout, output(applied)
    assert "git cherry-pick --abort" in applied.stdout, output(applied)
    assert f"applied {MINOR}" not in applied.stdout
    refused = releases(fork, "apply", "--all", "--no-tests", env=env)
    assert refused.returncode == 2, output(refused)
    assert "a cherry-pick is in progress" in refused.stderr

    git(fork, "cherry-pick", "--abort", env=env)
    assert git(fork, "rev-parse", "HEAD", env=env) == head
    assert git(fork, "status", "--porcelain", "--untracked-files=all", env=env) == status
    assert (fork / CORE / "mail_tokens.py").read_text(encoding="utf-8") == edited
    assert git(fork, "rev-parse", "--quiet", "--verify", "CHERRY_PICK_HEAD", env=env, check=False) == ""
