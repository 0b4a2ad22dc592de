# Gatehouse developer commands. `make dev` runs the app, `make test` runs every test.
# Both work on a fresh clone with Python 3.11+ and make: the first run creates .venv from the
# hashed lock files and, when DATABASE_URL is unset, starts an embedded PostgreSQL under .dev/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.txt
STAMP := $(VENV)/.installed-$(shell (sha256sum $(LOCK) 2>/dev/null || shasum -a 256 $(LOCK)) | cut -c1-16)
APP := app.asgi:create_app
WITH_DB := $(BIN)/python scripts/with_db.py --
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes for `make test`: each has its own test databases; a file runs in one.
# The browser suite runs as a second pytest: Playwright's sync API leaves an event loop running in
# its process, which the async tests after it cannot share.
TEST_WORKERS ?= 3
WORKERS ?= 4
# Examples per route and browser for `make fuzz` (the test's own default, for CI, is 10).
FUZZ_EXAMPLES ?= 2000
LITESTAR := $(BIN)/litestar --app $(APP)
# `make serve`'s defences against slow and idle clients (docs/deployment.md#timeouts-and-slow-clients;
# tests/test_serve_timeouts.py starts Granian with exactly these): HTTP/1.1 only, whose header
# timeout Granian enforces; headers (and a keep-alive connection's next request) within 10 s; a
# worker that will not stop is killed 20 s after shutdown began. The body's deadline is the app's
# REQUEST_BODY_TIMEOUT.
SERVE_TIMEOUTS := --http 1 --http1-header-read-timeout 10000 --workers-kill-timeout 20

# Playwright drives this Chromium when set (CI and this machine use Debian's package);
# otherwise Playwright's own browser (`make browsers` downloads it).
PLAYWRIGHT_CHROMIUM_EXECUTABLE ?= $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)
export PLAYWRIGHT_CHROMIUM_EXECUTABLE
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: help dev test test-unit test-minimal e2e lint audit fmt migrate migration worker serve lock browsers clean venv \
	core-manifest core-status core-release bench loadtest seed fuzz

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv and install the locked dependencies

$(STAMP): $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Gatehouse needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing locked dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	@rm -f $(VENV)/.installed-* && touch $@

dev: $(STAMP) ## run the app with auto-reload, an in-process worker and the dev mailbox
	@$(BIN)/python scripts/dev.py --host $(HOST) --port $(PORT)

test: $(STAMP) browsers ## run unit, integration and browser tests (embedded PostgreSQL unless DATABASE_URL is set)
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests app/auth/core/tests
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile e2e

test-unit: $(STAMP) ## run the tests without the browser suite
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests app/auth/core/tests

test-minimal: $(STAMP) ## the tests without the browser suite, every optional FEATURE_* off (docs/features.md)
	@GATEHOUSE_FEATURES=minimal $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests app/auth/core/tests

e2e: $(STAMP) browsers ## run only the Playwright browser tests
	@$(BIN)/pytest e2e

lint: $(STAMP) ## ruff (lint + format check) and mypy on app/
	@$(BIN)/ruff check app tests e2e scripts migrations
	@$(BIN)/ruff format --check app tests e2e scripts migrations
	@$(BIN)/mypy

audit: $(STAMP) ## check the locked dependencies for known vulnerabilities (pip-audit; needs the internet)
	@$(BIN)/python scripts/audit_deps.py

fmt: $(STAMP) ## format and auto-fix
	@$(BIN)/ruff format app tests e2e scripts migrations
	@$(BIN)/ruff check --fix app tests e2e scripts migrations

migrate: $(STAMP) ## apply migrations to DATABASE_URL (or the embedded database)
	@$(WITH_DB) $(BIN)/alembic upgrade heads

seed: $(STAMP) ## add demo users, organizations and projects (idempotent; refused when APP_ENV=prod)
	@$(WITH_DB) $(BIN)/alembic upgrade heads
	@$(WITH_DB) $(LITESTAR) seed

migration: $(STAMP) ## create a migration from model changes: make migration m="add widgets"
	@test -n "$(m)" || (echo 'usage: make migration m="what changed"' && exit 2)
	@$(WITH_DB) $(BIN)/alembic upgrade heads
	@$(WITH_DB) $(BIN)/alembic revision --autogenerate -m "$(m)"

worker: $(STAMP) ## run a standalone background job worker
	@$(WITH_DB) $(LITESTAR) worker

serve: $(STAMP) ## production-style server: Granian with $(WORKERS) workers against DATABASE_URL
	@BASE_URL="$${BASE_URL:-http://$(HOST):$(PORT)}" $(WITH_DB) $(BIN)/granian --interface asgi --factory $(APP) \
		--host $(HOST) --port $(PORT) --workers $(WORKERS) --no-access-log $(SERVE_TIMEOUTS)

lock: $(STAMP) ## re-resolve pyproject.toml into the hashed lock files
	@$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 --quiet -o requirements/base.txt
	@$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 --quiet -o requirements/dev.txt

browsers: $(STAMP) ## make sure Playwright has a Chromium to drive
	@if [ -z "$(PLAYWRIGHT_CHROMIUM_EXECUTABLE)" ]; then $(BIN)/playwright install chromium; fi

loadtest: $(STAMP) ## sign-up, confirm by code, profile, sign-out load through 2 workers, then checks (exit 1 on a failed check)
	@$(BIN)/python scripts/loadtest.py

fuzz: $(STAMP) ## hostile requests to every route, 2000 per route and browser (make test runs 10); no 5xx allowed
	@FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/web/test_fuzz.py -q --timeout=0

bench: $(STAMP) ## a signed-in page against a bare Litestar baseline, then a sign-in storm (needs wrk)
	@$(BIN)/python scripts/bench.py

core-manifest: $(STAMP) ## regenerate app/auth/core/MANIFEST.json (after changing the security core)
	@$(BIN)/python -m app.auth.core.manifest --write

core-status: $(STAMP) ## compare app/auth/core with its manifest: clean, or the locally edited files
	@$(BIN)/python -m app.auth.core.manifest --check

core-release: $(STAMP) ## commit a security core release: make core-release v=0.2.0 (needs its CHANGELOG.md entry)
	@test -n "$(v)" || (echo 'usage: make core-release v=X.Y.Z' && exit 2)
	@$(BIN)/python -m app.auth.core.releases release $(v)

clean: ## stop nothing, delete caches (keeps .venv and .dev)
	@rm -rf .pytest_cache .mypy_cache .ruff_cache test-results
