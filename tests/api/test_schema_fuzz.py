"""Schemathesis against `/api/openapi.json` on a live server: no 5xx, and every answer matches the schema.

Bounded examples per operation (SCHEMATHESIS_EXAMPLES, 25 by default) with a token holding every
scope a member can have, and the optional JWT endpoints switched on. Each operation is one test,
so a failure names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from e2e.support import LiveServer
from tests.api.live import live_server, token_over_http

pytestmark = pytest.mark.heavy(seconds=40)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The fuzzer makes hundreds of calls a minute with one token: the per-token limit is lifted.
    policy = {"api_token_requests_per_minute": 1_000_000}
    # The optional JWT endpoints are switched on, so the fuzzer reaches them too.
    env = {"API_JWT_ENABLED": "true"}
    with live_server(tmp_path_factory.mktemp("schema"), "schema_api", policy, env) as server:
        yield server


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return token_over_http(server, "mia@example.com", ["account:read", "sessions:manage", "projects:write"])


def test_every_operation_answers_as_its_schema_says(server: LiveServer, token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    statuses: list[int] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            if "org_slug" in (case.path_parameters or {}):
                case.path_parameters["org_slug"] = "acme"  # the fuzzer's slugs would all be 404
            response = case.call_and_validate(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )
            statuses.append(response.status_code)

        run()
    # The fuzzer got through: most calls were answered, and some of them succeeded.
    assert len(statuses) >= len(operations) * 5
    assert any(200 <= status < 300 for status in statuses)
    assert 201 in statuses
