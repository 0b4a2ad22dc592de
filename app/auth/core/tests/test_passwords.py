"""Password rules [4]-[6] and hashing [1]-[3][9]: argon2id, upgrades, bcrypt, constant work, bounded threads."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import threading
import time

import bcrypt
import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth.core.passwords import (
    PasswordHasher,
    VerifyResult,
    check_password_policy,
    normalize_password,
)
from app.auth.core.policy import DEFAULT_POLICY, FAST_TEST_ARGON2, Argon2Profile, SecurityPolicy

POLICY = SecurityPolicy(password_min_length=12, password_max_length=128)
STRONG = "correct horse battery staple"  # zxcvbn score 4, not on any list


def codes(password: str, **kwargs: object) -> list[str]:
    return [p.code for p in check_password_policy(password, policy=POLICY, **kwargs)]  # type: ignore[arg-type]


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST_TEST_ARGON2)


# --- rules


@pytest.mark.parametrize(
    ("length", "problem"),
    [
        (7, "too_short"),
        (8, "too_short"),
        (11, "too_short"),
        (12, None),
        (64, None),
        (128, None),
        (129, "too_long"),
    ],
)
def test_length_bounds(length: int, problem: str | None) -> None:
    password = (STRONG * 5)[:length]
    found = [code for code in codes(password) if code in ("too_short", "too_long")]
    assert found == ([problem] if problem else [])


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    # "é" precomposed and as e + combining accent are both one character.
    assert len(normalize_password("e\u0301")) == 1
    message = check_password_policy("é" * 9, policy=POLICY)[0].message
    assert message == "Use at least 12 characters (this has 9)."


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=12, max_size=128))
def test_any_length_within_the_bounds_is_not_refused_for_length(password: str) -> None:
    if 12 <= len(normalize_password(password)) <= 128:
        assert not {"too_short", "too_long"} & set(codes(password))


@pytest.mark.parametrize("password", ["correct horse battery staple 🐎", "my cat eats fish"])
def test_passphrases_with_any_characters_are_accepted(password: str) -> None:
    assert check_password_policy(password, policy=POLICY) == []


def test_common_password_is_refused_with_a_reason() -> None:
    problems = check_password_policy("QWERTY123456", policy=POLICY)
    assert [p.code for p in problems] == ["common"]
    assert "common" in problems[0].message


def test_repeated_word_is_refused_with_zxcvbns_reason() -> None:
    problems = check_password_policy("passwordpassword", policy=POLICY)
    assert [p.code for p in problems] == ["weak"]
    assert "Repeats" in problems[0].message


def test_keyboard_walk_is_refused() -> None:
    assert codes("qwertyuiopasdfgh") == ["weak"]


@pytest.mark.parametrize(
    "password", ["bob.smith.2030", "Bob-Smith-2030", "BOBSMITH2030bobsmith2030", "Gatehouse!!!"]
)
def test_password_equal_to_a_context_word_is_refused(password: str) -> None:
    assert "context" in codes(password, context_words=["bob.smith.2030", "Gatehouse"])


def test_passphrase_merely_containing_a_context_word_or_password_is_accepted() -> None:
    phrase = "my gatehouse password has seven words"
    assert check_password_policy(phrase, policy=POLICY, context_words=["Gatehouse", "password"]) == []


def test_length_problem_comes_before_the_others() -> None:
    assert codes("password") == ["too_short", "common"]


@pytest.mark.parametrize(
    "password",
    [
        STRONG + " " + "x" * 100,
        ("!$%(+0123456789<@[{|" * 7)[:128],  # every symbol zxcvbn reads as l33t: seconds if rated whole
        ("4@8({[<3691!|70$5+%2xyz" * 6)[:128],
    ],
)
def test_strength_rating_stays_fast_on_hostile_input(password: str) -> None:
    started = time.perf_counter()
    check_password_policy(password, policy=POLICY, context_words=["bob", "Gatehouse"])
    assert time.perf_counter() - started < 0.5


def test_word_lists_are_not_loaded_at_import() -> None:
    probe = "import sys, app.auth.core.passwords; print('zxcvbn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- hashing


async def test_production_profile_makes_owasp_grade_argon2id_hashes() -> None:
    hashed = await PasswordHasher(DEFAULT_POLICY.argon2).hash(STRONG)
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    assert match, hashed
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    m, t, p = (int(value) for value in match.groups())
    assert Argon2Profile(time_cost=t, memory_kib=m, parallelism=p).meets_owasp_floor()


async def test_right_password_verifies_and_wrong_does_not(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash(STRONG)
    assert await hasher.verify(hashed, STRONG) == VerifyResult(ok=True, needs_rehash=False)
    assert await hasher.verify(hashed, STRONG + "!") == VerifyResult(ok=False, needs_rehash=False)


async def test_long_password_is_not_truncated(hasher: PasswordHasher) -> None:
    password = (STRONG * 5)[:128]
    hashed = await hasher.hash(password)
    assert (await hasher.verify(hashed, password)).ok
    assert not (await hasher.verify(hashed, password[:-1])).ok


async def test_passwords_are_compared_after_normalization(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("\u212b ngström is a unit")  # ANGSTROM SIGN
    assert (await hasher.verify(hashed, "\u00c5 ngström is a unit")).ok  # LATIN CAPITAL A WITH RING


async def test_hash_with_old_parameters_verifies_and_asks_for_rehash(hasher: PasswordHasher) -> None:
    old = Argon2Hasher(time_cost=1, memory_cost=8_192, parallelism=1, type=Type.ID).hash(STRONG)
    assert await hasher.verify(old, STRONG) == VerifyResult(ok=True, needs_rehash=True)
    assert await hasher.verify(old, "wrong " + STRONG) == VerifyResult(ok=False, needs_rehash=False)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_bcrypt_hash_verifies_once_and_asks_for_rehash(hasher: PasswordHasher, prefix: str) -> None:
    legacy = bcrypt.hashpw(STRONG.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", prefix)
    assert await hasher.verify(legacy, STRONG) == VerifyResult(ok=True, needs_rehash=True)
    assert await hasher.verify(legacy, "wrong " + STRONG) == VerifyResult(ok=False, needs_rehash=False)


async def test_password_over_72_bytes_against_bcrypt_is_just_wrong(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(STRONG.encode(), bcrypt.gensalt(rounds=4)).decode()
    assert await hasher.verify(legacy, "x" * 100) == VerifyResult(ok=False, needs_rehash=False)


async def test_text_that_is_not_valid_unicode_fails_without_an_exception(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash(STRONG)
    legacy = bcrypt.hashpw(STRONG.encode(), bcrypt.gensalt(rounds=4)).decode()
    assert not (await hasher.verify(hashed, "\ud800")).ok
    assert not (await hasher.verify(legacy, "\ud800")).ok


@pytest.mark.parametrize("stored", ["garbage", "$argon2id$v=19$m=8,t=1,p=1$bad", "$2b$04$bad", "$2b$ñ"])
async def test_malformed_hash_is_a_failed_verify(hasher: PasswordHasher, stored: str) -> None:
    assert await hasher.verify(stored, STRONG) == VerifyResult(ok=False, needs_rehash=False)


class CountingHasher(PasswordHasher):
    """Counts the hash checks actually performed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls = 0

    def verify_blocking(self, stored_hash: str, password: str) -> bool:
        self.calls += 1
        return super().verify_blocking(stored_hash, password)


async def test_wrong_password_costs_exactly_one_verify() -> None:
    hasher = CountingHasher(FAST_TEST_ARGON2)
    hashed = await hasher.hash(STRONG)
    assert not (await hasher.verify(hashed, "wrong")).ok
    assert hasher.calls == 1


@pytest.mark.parametrize("stored", [None, ""])
async def test_unknown_account_costs_exactly_one_verify(stored: str | None) -> None:
    hasher = CountingHasher(FAST_TEST_ARGON2)
    assert await hasher.verify(stored, STRONG) == VerifyResult(ok=False, needs_rehash=False)
    assert await hasher.verify(stored, STRONG) == VerifyResult(ok=False, needs_rehash=False)
    assert hasher.calls == 2


async def test_dummy_hash_uses_the_same_profile() -> None:
    hasher = PasswordHasher(DEFAULT_POLICY.argon2)
    await hasher.verify(None, STRONG)
    assert hasher._dummy_hash is not None
    assert hasher._dummy_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


class SlowHasher(PasswordHasher):
    """Every verify takes 0.2 s and records how many run at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def verify_blocking(self, stored_hash: str, password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.2)
        with self._lock:
            self.running -= 1
        return False


async def test_a_burst_of_verifies_queues_without_blocking_the_event_loop() -> None:
    hasher = SlowHasher(FAST_TEST_ARGON2, max_concurrency=2)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.verify("$argon2id$x", STRONG) for _ in range(6)))
    elapsed = time.perf_counter() - started
    ticking.cancel()

    assert elapsed >= 0.6
    assert hasher.most_at_once == 2
    assert len(ticks) >= 30
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.15  # one verify would block 0.2 s


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        PasswordHasher(FAST_TEST_ARGON2, max_concurrency=0)


def test_for_policy_takes_profile_and_concurrency() -> None:
    hasher = PasswordHasher.for_policy(
        SecurityPolicy(argon2=FAST_TEST_ARGON2, password_hashing_concurrency=2)
    )
    assert hasher._max_concurrency == 2
    hasher.close()
