"""The policy object: production defaults meet the floors, and weaker values are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.auth.core.policy import (
    DEFAULT_POLICY,
    FAST_TEST_ARGON2,
    Argon2Profile,
    PolicyError,
    SecurityPolicy,
    describe,
)


def test_default_policy_is_fit_for_production() -> None:
    assert DEFAULT_POLICY.for_production() is DEFAULT_POLICY
    assert DEFAULT_POLICY.argon2 == Argon2Profile(time_cost=3, memory_kib=65_536, parallelism=4)


def test_fast_test_hashing_is_refused_for_production() -> None:
    with pytest.raises(PolicyError, match="OWASP"):
        SecurityPolicy(argon2=FAST_TEST_ARGON2).for_production()


@pytest.mark.parametrize(
    ("profile", "ok"),
    [
        (Argon2Profile(2, 19_456, 1), True),
        (Argon2Profile(1, 47_104, 1), True),
        (Argon2Profile(5, 7_168, 1), True),
        (Argon2Profile(1, 19_456, 1), False),
        (Argon2Profile(4, 8_192, 1), False),
    ],
)
def test_owasp_floor_rows(profile: Argon2Profile, ok: bool) -> None:
    assert profile.meets_owasp_floor() is ok


@pytest.mark.parametrize(
    "override",
    [
        {"password_min_length": 7},
        {"password_max_length": 63},
        {"session_token_bytes": 8},
        {"remember_me_lifetime": timedelta(days=31)},
        {"login_hard_cap": 101},
        {"session_idle_timeout": timedelta(hours=13)},
        {"code_digits": 5},
        {"impersonation_max": timedelta(hours=2)},
        {"impersonation_reason_min_length": 0},
        {"admin_reauthentication_interval": timedelta(hours=13)},
    ],
)
def test_values_below_the_hard_floors_are_refused(override: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        SecurityPolicy(**override)  # type: ignore[arg-type]


def test_describe_lists_every_number_with_an_explanation() -> None:
    rows = describe()
    names = [name for name, _, _ in rows]
    assert "session_idle_timeout" in names
    assert all(explanation for _, _, explanation in rows), "every field has a docstring"
    values = {name: value for name, value, _ in rows}
    assert values["session_idle_timeout"] == "30 min"
    assert values["argon2"] == "argon2id t=3, m=64 MiB, p=4"
    assert values["address_form_min_duration"] == "400 ms"


def test_overrides_take_seconds_for_durations_and_keep_the_floors() -> None:
    policy = DEFAULT_POLICY.with_overrides({"session_idle_timeout": 900, "max_sessions_per_user": 5})
    assert policy.session_idle_timeout == timedelta(minutes=15)
    assert policy.max_sessions_per_user == 5
    with pytest.raises(PolicyError):
        DEFAULT_POLICY.with_overrides({"password_min_length": 6})
    with pytest.raises(PolicyError, match="unknown"):
        DEFAULT_POLICY.with_overrides({"no_such_number": 1})


def test_durations_may_be_fractions_of_a_second_but_counts_must_be_whole() -> None:
    policy = DEFAULT_POLICY.with_overrides({"address_form_min_duration": 0.25, "code_max_attempts": 4.0})
    assert policy.address_form_min_duration == timedelta(milliseconds=250)
    assert policy.code_max_attempts == 4
    with pytest.raises(PolicyError, match="whole number"):
        DEFAULT_POLICY.with_overrides({"code_max_attempts": 4.5})


@pytest.mark.parametrize(
    "override",
    [
        {"sudo_window": 0},
        {"session_idle_timeout": -5},
        {"code_max_attempts": 0},
        {"sudo_window": 7200},
        {"code_max_attempts": 50},
        {"magic_link_ttl": 3600},
        {"confirmation_link_ttl": 3 * 86_400},
        {"session_absolute_timeout": 2 * 86_400},
        {"emails_per_address_per_hour": 1_000},
        {"address_form_min_duration": 0},
        {"address_form_min_duration": 10},
    ],
)
def test_overrides_outside_the_bounds_are_refused(override: dict[str, int]) -> None:
    with pytest.raises(PolicyError):
        DEFAULT_POLICY.with_overrides(override)
