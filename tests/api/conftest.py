"""API tests: one partner origin may call the API from a browser, tokens get 25 calls a minute, and
webhooks may be delivered to 127.0.0.1 (a local receiver)."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.api.receiver import receiver
from tests.support.database import make_settings

__all__ = ("receiver",)  # the local webhook receiver, for every API test

PARTNER_ORIGIN = "https://partner.example"
REQUESTS_PER_MINUTE = 25


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    """The test settings with a CORS allowlist and a small per-token rate limit."""
    return make_settings(
        database_url,
        api_cors_origins=[PARTNER_ORIGIN],
        webhook_allow_loopback=True,
        security_policy={"api_token_requests_per_minute": REQUESTS_PER_MINUTE},
    )
