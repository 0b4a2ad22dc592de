"""API token rules that need no database: the token's shape, the scopes, the lifetimes [77]."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from app.auth.core import api_tokens
from app.auth.core.api_tokens import TOKEN_SCOPES, InvalidTokenRequestError, TokenSpec
from app.auth.core.orgs import PERMISSIONS
from app.auth.core.policy import PolicyError, SecurityPolicy


class _Security:
    policy = SecurityPolicy()


SECURITY: Any = _Security()


def test_a_token_is_prefixed_and_carries_256_random_bits() -> None:
    public_id, value = api_tokens._new_value()
    assert re.fullmatch(r"gth_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", value)
    assert value.startswith(f"gth_{public_id}_")
    assert len({api_tokens._new_value()[1] for _ in range(100)}) == 100


def test_scopes_come_from_the_permission_table() -> None:
    assert set(PERMISSIONS) <= set(TOKEN_SCOPES)
    assert "tokens:manage" in PERMISSIONS


def test_an_unknown_scope_is_refused() -> None:
    spec = TokenSpec(name="x", scopes=frozenset({"root:everything"}))
    with pytest.raises(InvalidTokenRequestError):
        api_tokens._checked(spec, SECURITY, set(TOKEN_SCOPES))


def test_a_scope_the_maker_lacks_is_refused() -> None:
    spec = TokenSpec(name="x", scopes=frozenset({"org:delete"}))
    with pytest.raises(InvalidTokenRequestError):
        api_tokens._checked(spec, SECURITY, {"projects:write"})


def test_lifetimes_default_to_ninety_days_and_stop_at_a_year() -> None:
    checked = api_tokens._checked(TokenSpec(name="  a   b ", scopes=frozenset()), SECURITY, set())
    assert checked.ttl == timedelta(days=90)
    assert checked.name == "a b"
    with pytest.raises(InvalidTokenRequestError):
        api_tokens._checked(
            TokenSpec(name="x", scopes=frozenset(), ttl=timedelta(days=366)),
            SECURITY,
            set(),
        )


def test_the_policy_refuses_tokens_longer_than_a_year() -> None:
    with pytest.raises(PolicyError):
        SecurityPolicy(api_token_max_ttl=timedelta(days=400))
    with pytest.raises(PolicyError):
        SecurityPolicy(api_token_default_ttl=timedelta(days=200), api_token_max_ttl=timedelta(days=100))
