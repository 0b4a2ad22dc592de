"""Hashing admission control: a hash waits at most `max_wait` for a slot, then gets 503 + Retry-After.

A `GatedExecutor` makes "the slot is taken" deterministic: the first job handed to it blocks on an
event until the test opens the gate, so no timing luck or slow argon2 profile is involved.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from app.auth.core.passwords import HashingBusyError, PasswordHasher
from app.auth.core.policy import DEFAULT_POLICY, FAST_TEST_ARGON2, PolicyError, SecurityPolicy

PASSWORD = "correct horse battery staple"
SHORT_WAIT = 0.05
BOUND = 0.5  # a refused hash answers well within this, not after a long stall
GATE_LIMIT = 5.0  # a held job gives up on its own after this, so a failing test cannot hang


class GatedExecutor(ThreadPoolExecutor):
    """A thread pool whose next job, after `hold_next()`, waits until `release()`."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="gated-hash")
        self.submitted = 0
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._hold = False

    def hold_next(self) -> None:
        """Hold the next job submitted (a fresh gate: earlier releases do not open it)."""
        self._hold, self.entered, self._gate = True, threading.Event(), threading.Event()

    def release(self) -> None:
        """Let the held job run."""
        self._gate.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        if not self._hold:
            return super().submit(fn, *args, **kwargs)
        self._hold = False
        entered, gate = self.entered, self._gate

        def held() -> Any:
            entered.set()
            if not gate.wait(GATE_LIMIT):
                raise TimeoutError("the test never released the held job")
            return fn(*args, **kwargs)

        return super().submit(held)


@pytest.fixture
def executor() -> Iterator[GatedExecutor]:
    pool = GatedExecutor()
    yield pool
    pool.release()
    pool.shutdown(wait=True)


def hasher_on(executor: GatedExecutor, max_wait: float = SHORT_WAIT) -> PasswordHasher:
    return PasswordHasher(FAST_TEST_ARGON2, max_concurrency=1, max_wait=max_wait, executor=executor)


async def occupy_the_slot(hasher: PasswordHasher, executor: GatedExecutor) -> asyncio.Task[str]:
    """Start a hash whose work blocks until `executor.release()`; return once it holds the slot."""
    executor.hold_next()
    holder = asyncio.create_task(hasher.hash(PASSWORD))
    entered = await asyncio.to_thread(executor.entered.wait, GATE_LIMIT)
    assert entered, "the first hash never reached the worker thread"
    return holder


@pytest.mark.parametrize("call", ["hash", "verify", "verify_unknown_account"])
async def test_a_hash_that_finds_the_slot_taken_past_max_wait_gets_503_with_retry_after(
    executor: GatedExecutor, call: str
) -> None:
    hasher = hasher_on(executor)
    stored = await hasher.hash(PASSWORD)  # while the slot is still free
    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "hash": lambda: hasher.hash("another password entirely"),
        "verify": lambda: hasher.verify(stored, PASSWORD),
        "verify_unknown_account": lambda: hasher.verify(None, PASSWORD),
    }
    holder = await occupy_the_slot(hasher, executor)
    submitted = executor.submitted

    started = time.monotonic()
    with pytest.raises(HashingBusyError) as refused:
        await attempts[call]()
    waited = time.monotonic() - started

    assert SHORT_WAIT * 0.9 <= waited < BOUND  # it waited its turn, then gave up promptly
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}  # whole seconds, at least one
    assert executor.submitted == submitted, "the refused call must not have run any hashing work"
    assert not holder.done()

    executor.release()
    assert hasher.verify_blocking(await asyncio.wait_for(holder, GATE_LIMIT), PASSWORD)


async def test_a_waiting_hash_gets_the_slot_when_it_frees_in_time(executor: GatedExecutor) -> None:
    hasher = hasher_on(executor, max_wait=GATE_LIMIT)
    holder = await occupy_the_slot(hasher, executor)
    waiting = asyncio.create_task(hasher.hash("the second password here"))
    for _ in range(20):  # let the waiter run up to the semaphore
        await asyncio.sleep(0)
    assert not waiting.done()
    assert executor.submitted == 1, "only one hash may run at a time"

    executor.release()
    first, second = await asyncio.wait_for(asyncio.gather(holder, waiting), GATE_LIMIT)

    assert hasher.verify_blocking(first, PASSWORD)
    assert hasher.verify_blocking(second, "the second password here")
    assert executor.submitted == 2


async def test_a_refusal_leaves_the_slot_usable(executor: GatedExecutor) -> None:
    hasher = hasher_on(executor)
    holder = await occupy_the_slot(hasher, executor)
    with pytest.raises(HashingBusyError):
        await hasher.hash("refused while busy")
    executor.release()
    await asyncio.wait_for(holder, GATE_LIMIT)

    # The refused caller neither kept a slot nor left one released twice: one runs, the next waits.
    result = await asyncio.wait_for(hasher.verify(await hasher.hash(PASSWORD), PASSWORD), GATE_LIMIT)
    assert result.ok
    holder = await occupy_the_slot(hasher, executor)
    with pytest.raises(HashingBusyError):
        await hasher.hash("still only one at a time")
    executor.release()
    await asyncio.wait_for(holder, GATE_LIMIT)


async def test_for_policy_takes_the_longest_wait_from_the_policy(executor: GatedExecutor) -> None:
    policy = SecurityPolicy(
        argon2=FAST_TEST_ARGON2,
        password_hashing_concurrency=1,
        password_hashing_max_wait=timedelta(milliseconds=50),
    )
    hasher = PasswordHasher.for_policy(policy, executor=executor)
    holder = await occupy_the_slot(hasher, executor)

    started = time.monotonic()
    with pytest.raises(HashingBusyError):
        await hasher.hash("waits only as long as the policy says")
    assert time.monotonic() - started < BOUND

    executor.release()
    await asyncio.wait_for(holder, GATE_LIMIT)


def test_the_default_longest_wait_is_five_seconds() -> None:
    assert SecurityPolicy().password_hashing_max_wait == timedelta(seconds=5)
    assert DEFAULT_POLICY.password_hashing_max_wait == timedelta(seconds=5)


def test_the_longest_wait_may_be_raised_up_to_its_ceiling() -> None:
    policy = DEFAULT_POLICY.with_overrides({"password_hashing_max_wait": 30})
    assert policy.password_hashing_max_wait == timedelta(seconds=30)
    assert DEFAULT_POLICY.with_overrides({"password_hashing_max_wait": 0.5}).password_hashing_max_wait == (
        timedelta(milliseconds=500)
    )


@pytest.mark.parametrize("seconds", [30.5, 31, 3600])
def test_a_longest_wait_above_the_ceiling_is_refused(seconds: float) -> None:
    with pytest.raises(PolicyError, match="password_hashing_max_wait"):
        DEFAULT_POLICY.with_overrides({"password_hashing_max_wait": seconds})
    with pytest.raises(PolicyError, match="password_hashing_max_wait"):
        SecurityPolicy(password_hashing_max_wait=timedelta(seconds=seconds))


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_longest_wait_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(PolicyError, match="password_hashing_max_wait"):
        DEFAULT_POLICY.with_overrides({"password_hashing_max_wait": seconds})
