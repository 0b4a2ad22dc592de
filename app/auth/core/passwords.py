"""Password rules and password hashing, kept together so both normalize a password the same way.

Rules [4]-[6]: length is counted in code points after NFKC, so "é" typed either way is one
character and "Å" as U+212B or U+00C5 is the same password. There are no composition rules.
Instead a new password is refused when it is one of the most common passwords, when it is just the
user's email name or the site's name, or when zxcvbn estimates it takes under a million guesses.
Only the whole password is compared: a long passphrase that merely contains "password" is fine.

Hashing [1]-[3][9]: new hashes are argon2id with the policy's profile. argon2 is deliberately slow
and memory-hungry, so it runs in worker threads, at most `max_concurrency` at a time; a burst of
sign-ins queues instead of stalling the event loop. Legacy bcrypt hashes are still accepted, and
`needs_rehash` tells the caller to replace them (and argon2 hashes made with other parameters).
A sign-in for an unknown account costs the same single verify, against a dummy hash, so response
time does not reveal which accounts exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from typing import TypeVar

import bcrypt
from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.exceptions import ServiceUnavailableException

from app.auth.core.policy import Argon2Profile, SecurityPolicy

__all__ = (
    "HashingBusyError",
    "PasswordHasher",
    "PasswordProblem",
    "VerifyResult",
    "check_password_policy",
    "normalize_password",
)

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

_ZXCVBN_MAX_INPUT = 100  # the first 100 characters tell enough about a password's strength
# zxcvbn's work grows as length² times the ways it can read the l33t symbols present ("4" as "a",
# "1" as "i" or "l"...), and 32 characters of mixed symbols already take over a second. It rates
# only as much of the start as this budget allows: about 50 ms, on the event loop.
_ZXCVBN_BUDGET = 30_000
_ZXCVBN_MIN_SCORE = 2  # scores run 0-4; below 2 means fewer than about a million guesses
_zxcvbn_lock = threading.Lock()

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True)
class PasswordProblem:
    """One reason a new password is refused, worded for the form field."""

    code: str
    """Machine-readable: "too_short", "too_long", "common", "context" or "weak"."""
    message: str
    """Plain-language reason shown next to the field."""


def normalize_password(raw: str) -> str:
    """The form of a password that is measured and hashed: NFKC [5]."""
    return unicodedata.normalize("NFKC", raw)


def check_password_policy(
    password: str, *, policy: SecurityPolicy, context_words: Sequence[str] = ()
) -> list[PasswordProblem]:
    """Everything wrong with `password` as a new password, most useful first; [] when it is fine."""
    password = normalize_password(password)
    problems: list[PasswordProblem] = []
    length, fewest, most = len(password), policy.password_min_length, policy.password_max_length
    if length < fewest:
        problems.append(
            PasswordProblem("too_short", f"Use at least {fewest} characters (this has {length}).")
        )
    elif length > most:
        problems.append(PasswordProblem("too_long", f"Use at most {most} characters (this has {length})."))
    if password.casefold() in _common_passwords():
        problems.append(
            PasswordProblem("common", "This is one of the most common passwords, so it is guessed first.")
        )
    elif _is_context_word(password, context_words):
        problems.append(
            PasswordProblem("context", "Don't use your email name or the name of this site as your password.")
        )
    elif length and (weakness := _weakness(password, context_words)):
        problems.append(weakness)
    return problems


@cache
def _common_passwords() -> frozenset[str]:
    # Loaded on first use, not at import: the list is 30,000 entries most processes never need.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def _squash(text: str) -> str:
    return "".join(ch for ch in normalize_password(text).casefold() if ch.isalnum())


def _is_context_word(password: str, context_words: Sequence[str]) -> bool:
    squashed = _squash(password)
    for word in context_words:
        core = _squash(word)
        if core and squashed and squashed == core * (len(squashed) // len(core)):
            return True
    return False


def _weakness(password: str, context_words: Sequence[str]) -> PasswordProblem | None:
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    user_inputs = [normalize_password(word) for word in context_words]
    # zxcvbn keeps the user inputs in module state during a call, so concurrent calls would mix them.
    with _zxcvbn_lock:
        result = zxcvbn(_affordable_start(password), user_inputs=user_inputs, max_length=_ZXCVBN_MAX_INPUT)
    if result["score"] >= _ZXCVBN_MIN_SCORE:
        return None
    advice = "A few unrelated words make a strong password."
    warning = str(result["feedback"]["warning"] or "This password would be easy to guess.")
    return PasswordProblem("weak", f"{warning} {advice}")


def _affordable_start(password: str) -> str:
    from zxcvbn.matching import (  # type: ignore[import-untyped]
        L33T_TABLE,
        enumerate_l33t_subs,
        relevant_l33t_subtable,
    )

    symbols = {symbol for options in L33T_TABLE.values() for symbol in options}
    seen, passes = "", 1
    for length, ch in enumerate(password[:_ZXCVBN_MAX_INPUT], start=1):
        if ch in symbols and ch not in seen:
            seen += ch
            passes = 1 + len(enumerate_l33t_subs(relevant_l33t_subtable(seen, L33T_TABLE)))
        if passes * length * length > _ZXCVBN_BUDGET:
            return password[: length - 1]
    return password[:_ZXCVBN_MAX_INPUT]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a password against a stored hash."""

    ok: bool
    """The password matches."""
    needs_rehash: bool
    """It matched, and the stored hash should be replaced by a fresh argon2id one [2][3]."""


class HashingBusyError(ServiceUnavailableException):
    """Every hashing slot stayed taken for the longest wait: the client should retry shortly (503)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class PasswordHasher:
    """Hashes and verifies passwords in worker threads, a bounded number at a time.

    Admission control: at most `max_concurrency` hashes run at once; a request waits at most
    `max_wait` seconds for a slot and then gets `HashingBusyError` (503 with Retry-After), never a
    stall. A burst of sign-ins therefore costs the app a fixed amount of CPU and memory (argon2id
    takes 64 MiB per hash) and queues no deeper than its patience.
    """

    def __init__(
        self,
        profile: Argon2Profile,
        *,
        max_concurrency: int = 4,
        max_wait: float = 5.0,
        executor: Executor | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._argon2 = _Argon2(
            time_cost=profile.time_cost,
            memory_cost=profile.memory_kib,
            parallelism=profile.parallelism,
            type=Type.ID,
        )
        self._max_concurrency = max_concurrency
        self._max_wait = max_wait
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_concurrency, thread_name_prefix="password-hash", initializer=_lower_thread_priority
        )
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._dummy_hash: str | None = None

    @classmethod
    def for_policy(cls, policy: SecurityPolicy, *, executor: Executor | None = None) -> PasswordHasher:
        """A hasher with the policy's argon2 profile and concurrency."""
        return cls(
            policy.argon2,
            max_concurrency=policy.password_hashing_concurrency,
            max_wait=policy.password_hashing_max_wait.total_seconds(),
            executor=executor,
        )

    async def hash(self, password: str) -> str:
        """A new argon2id hash (PHC string) of the NFKC-normalized password."""
        return await self._in_pool(partial(self._argon2.hash, normalize_password(password)))

    async def verify(self, stored_hash: str | None, password: str) -> VerifyResult:
        """Check `password` against `stored_hash`; a missing hash fails after the same amount of work."""
        if not stored_hash:
            # Unknown account or no password set: one verify all the same, so timing reveals nothing [9].
            dummy = await self._dummy()
            await self._in_pool(partial(self.verify_blocking, dummy, password))
            return VerifyResult(ok=False, needs_rehash=False)
        ok = await self._in_pool(partial(self.verify_blocking, stored_hash, password))
        return VerifyResult(ok=ok, needs_rehash=ok and self.needs_rehash(stored_hash))

    def verify_blocking(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches `stored_hash` (argon2 or legacy bcrypt); blocks the thread."""
        normalized = normalize_password(password)
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            # Legacy hashes may predate normalization, so the password as typed is tried too.
            return _bcrypt_matches(stored_hash, normalized) or (
                normalized != password and _bcrypt_matches(stored_hash, password)
            )
        try:
            return self._argon2.verify(stored_hash, normalized)
        except (VerificationError, ValueError):  # wrong password, malformed hash (InvalidHashError)
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when `stored_hash` is bcrypt, or argon2 with parameters other than this hasher's [2]."""
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            return True
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        """Stop the worker threads this hasher started (a borrowed executor is left alone)."""
        if self._owns_executor:
            self._executor.shutdown(wait=False)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._in_pool(partial(self._argon2.hash, secrets.token_urlsafe(16)))
        return self._dummy_hash

    async def _in_pool(self, work: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            # An asyncio semaphore belongs to one event loop; tests and some servers run several.
            self._semaphore, self._semaphore_loop = asyncio.Semaphore(self._max_concurrency), loop
        semaphore = self._semaphore
        try:
            await asyncio.wait_for(semaphore.acquire(), self._max_wait)
        except TimeoutError:
            # Load shedding, on purpose: say so, or an operator sees 503s with no reason.
            _log.warning(
                "password hashing busy: every slot stayed taken for %.1f s; answering 503", self._max_wait
            )
            raise HashingBusyError(retry_after=max(1, math.ceil(self._max_wait))) from None
        try:
            return await loop.run_in_executor(self._executor, work)
        finally:
            semaphore.release()


_HASHING_NICENESS = 10
"""How much lower than the event loop the hashing threads run (Linux `nice` steps, 0-19)."""


def _lower_thread_priority() -> None:
    """Let the event loop win the CPU over hashing: pages stay quick while a burst of sign-ins hashes.

    On Linux a thread is a task with a priority of its own; elsewhere this does nothing.
    """
    # Not Linux, or not allowed: hashing then runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASHING_NICENESS)


def _bcrypt_matches(stored_hash: str, password: str) -> bool:
    try:
        secret = password.encode()
        # bcrypt only ever read 72 bytes and bcrypt 5 raises beyond that: a longer one simply fails [3].
        if len(secret) > _BCRYPT_MAX_BYTES:
            return False
        return bcrypt.checkpw(secret, stored_hash.encode("ascii"))
    except ValueError:  # malformed hash, or text that is not valid Unicode
        return False
