"""Audit events: what a record may hold, its canonical bytes, and the hash chain that links them.

The audit log is evidence, so two things matter: it must never become a second copy of the secrets
it describes, and later edits must be detectable. `validate` handles the first: actions have one
shape, details are plain JSON under a size cap, and any key that looks like it names a secret is
refused outright (the caller renames it or leaves it out), because a denylist on *values* cannot
recognise a password. `chain_hash` handles the second: each row's hash covers the previous row's
hash and the row's canonical bytes, so editing, deleting or reordering a row breaks every link
after it. `verify_chain` walks the links.

A plain SHA-256 chain proves only that the rows agree with each other: someone who can write to the
table may rewrite a whole tail consistently. Compare the newest hash with a copy kept elsewhere
(an export, an off-site log line) to close that gap.

The canonical form is part of the chain: changing `canonical_bytes` invalidates every stored hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = (
    "MAX_LENGTHS",
    "OUTCOMES",
    "AuditError",
    "AuditRecord",
    "ChainReport",
    "ChainVerifier",
    "canonical_bytes",
    "chain_hash",
    "is_secret_looking",
    "validate",
    "verify_chain",
)

OUTCOMES = frozenset({"success", "failure"})
# Longest values a record may carry (the host's columns are this wide, so nothing is cut off).
MAX_LENGTHS = {"action": 100, "target_type": 50, "target_id": 100, "ip_address": 45, "user_agent": 512}
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_GENESIS = bytes(32)

# Secret-looking keys. Keys are split into words (snake, kebab, dotted, camel and acronym case) and
# a key is refused when any word is, or contains, one of these. The test fails closed: a harmless
# key that trips it ("password_changed") is renamed by the caller; a secret that slips past is not
# recoverable from an append-only log.
_SECRET_ROOTS = (  # long enough to match inside run-together words: "accesstoken", "sessionid"
    "password", "passwd", "passphrase", "passcode", "secret", "token", "apikey", "privatekey",
    "credential", "cookie", "authorization", "sessionid",
)  # fmt: skip
_SECRET_WORDS = frozenset(  # short or common: whole words only, singular or plural
    {"pwd", "pin", "otp", "totp", "hotp", "backup", "session", "bearer", "jwt", "cvv"}
)
# "key" is secret after these words ("api_key", "signingKey"); alone it is ordinary ("sort_key").
_KEY_QUALIFIERS = frozenset({"api", "private", "access", "signing", "encryption", "master"})
# "code" is secret (one-time, backup, reset, OAuth codes) unless it follows one of these words.
_HARMLESS_CODE_QUALIFIERS = frozenset(
    {"country", "currency", "error", "exit", "http", "language", "locale", "postal", "reason",
     "region", "response", "status", "zip"}
)  # fmt: skip
_WORD_BOUNDARIES = (re.compile(r"([a-z0-9])([A-Z])"), re.compile(r"([A-Z]+)([A-Z][a-z])"))


class AuditError(ValueError):
    """An audit record that must not be stored as it is."""


@dataclass(frozen=True)
class AuditRecord:
    """One security-relevant event, as it is hashed and stored."""

    occurred_at: datetime
    """When it happened (timezone-aware; stored and hashed as UTC)."""
    action: str
    """Dotted snake_case name, most general part first: `auth.login.succeeded`."""
    outcome: str
    """`success` or `failure`."""
    actor_id: str | None = None
    """Who did it (None for anonymous requests and the system)."""
    impersonator_id: str | None = None
    """The admin acting as `actor_id`, during impersonation."""
    target_type: str = ""
    """Kind of thing acted on (`user`, `session`, `organization`)."""
    target_id: str = ""
    """Its identifier."""
    ip_address: str = ""
    """Client address, as resolved through trusted proxies."""
    user_agent: str = ""
    """The client's User-Agent header."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Extra facts as JSON: method, factor, reason. Never secrets, never whole URLs with tokens."""
    org_id: str | None = None
    """The organization the event happened in (its audit log shows it); None outside organizations."""


def validate(record: AuditRecord, *, max_detail_bytes: int) -> None:
    """Raise `AuditError` unless `record` is safe and fit to store."""
    if not _ACTION.fullmatch(record.action):
        raise AuditError(f"action {record.action!r} is not dotted snake_case like 'auth.login.succeeded'")
    if record.outcome not in OUTCOMES:
        raise AuditError(f"outcome must be one of {sorted(OUTCOMES)}, not {record.outcome!r}")
    if record.occurred_at.tzinfo is None or record.occurred_at.utcoffset() is None:
        raise AuditError("occurred_at must be timezone-aware")
    if record.impersonator_id is not None and record.actor_id is None:
        raise AuditError("an impersonated event needs the actor it was done as")
    for name, limit in MAX_LENGTHS.items():
        if len(getattr(record, name)) > limit:
            raise AuditError(f"{name} is longer than {limit} characters")
    for name in (
        "actor_id",
        "impersonator_id",
        "org_id",
        "target_type",
        "target_id",
        "ip_address",
        "user_agent",
    ):
        _check_text(getattr(record, name) or "", name)
    if not isinstance(record.details, Mapping):
        raise AuditError("details must be a mapping")
    _check_keys(record.details, "details")
    size = len(_dumps(_plain(record.details)))
    if size > max_detail_bytes:
        raise AuditError(f"details take {size} bytes; at most {max_detail_bytes} are allowed")


def canonical_bytes(record: AuditRecord) -> bytes:
    """The record as stable JSON: sorted keys, no whitespace, UTC timestamp with microseconds.

    `org_id` joins the bytes only when set, so events written before organizations existed keep
    their hashes.
    """
    org = {"org_id": record.org_id} if record.org_id is not None else {}
    return _dumps(
        {
            **org,
            "occurred_at": record.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "action": record.action,
            "outcome": record.outcome,
            "actor_id": record.actor_id,
            "impersonator_id": record.impersonator_id,
            "target_type": record.target_type,
            "target_id": record.target_id,
            "ip_address": record.ip_address,
            "user_agent": record.user_agent,
            "details": _plain(record.details),
        }
    )


def chain_hash(prev_hash: bytes | None, record: AuditRecord) -> bytes:
    """SHA-256 over the previous hash (32 zero bytes for the first event) and the record's bytes."""
    if prev_hash is not None and len(prev_hash) != len(_GENESIS):
        raise AuditError("prev_hash must be a 32-byte SHA-256 digest")
    return hashlib.sha256((prev_hash or _GENESIS) + canonical_bytes(record)).digest()


def is_secret_looking(key: str) -> bool:
    """True when a details key names something that must not be logged (see the module rules)."""
    for part in _WORD_BOUNDARIES:
        key = part.sub(r"\1 \2", key)
    words = [word for word in re.split(r"[^a-z0-9]+", key.lower()) if word]
    for i, word in enumerate(words):
        singular = word.removesuffix("s")
        previous = words[i - 1] if i else ""
        if any(root in word for root in _SECRET_ROOTS) or singular in _SECRET_WORDS:
            return True
        if singular == "key" and previous in _KEY_QUALIFIERS:
            return True
        if singular == "code" and previous not in _HARMLESS_CODE_QUALIFIERS:
            return True
    return False


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking a chain."""

    ok: bool
    """True when every link and every hash checked out."""
    checked: int
    """Rows found intact (before the first broken one, if any)."""
    first_broken_seq: int | None
    """The first row that does not fit the chain."""
    reason: str
    """Why that row does not fit; empty when `ok`."""


class ChainVerifier:
    """Checks rows one at a time in `seq` order, so a chain of any length can be streamed through it."""

    def __init__(self, anchor: bytes | None = None) -> None:
        # `anchor` is the hash the first row must link to: None for a chain that starts at its
        # first event, or the last hash of rows removed by retention.
        self._expected_prev = anchor
        self._last_seq: int | None = None
        self._checked = 0
        self._broken: tuple[int, str] | None = None

    def check(self, seq: int, record: AuditRecord, prev_hash: bytes | None, hash_: bytes) -> bool:
        """Check the next row; True while the chain is intact."""
        if self._broken is not None:
            return False
        if self._last_seq is not None and seq <= self._last_seq:
            return self._break(seq, f"seq {seq} does not follow seq {self._last_seq}")
        if prev_hash != self._expected_prev:
            return self._break(seq, "prev_hash does not match the previous row (a row was removed or moved)")
        try:
            expected = chain_hash(prev_hash, record)
        except (AuditError, TypeError, ValueError) as exc:
            return self._break(seq, f"row cannot be hashed: {exc}")
        if expected != hash_:
            return self._break(seq, "hash does not match the row's contents (the row was edited)")
        self._expected_prev, self._last_seq = hash_, seq
        self._checked += 1
        return True

    @property
    def report(self) -> ChainReport:
        """What was found so far."""
        if self._broken is None:
            return ChainReport(ok=True, checked=self._checked, first_broken_seq=None, reason="")
        seq, reason = self._broken
        return ChainReport(ok=False, checked=self._checked, first_broken_seq=seq, reason=reason)

    def _break(self, seq: int, reason: str) -> bool:
        self._broken = (seq, reason)
        return False


def verify_chain(
    rows: Iterable[tuple[int, AuditRecord, bytes | None, bytes]], *, anchor: bytes | None = None
) -> ChainReport:
    """Walk (seq, record, prev_hash, hash) rows in seq order and report the first that breaks the chain."""
    verifier = ChainVerifier(anchor)
    for seq, record, prev_hash, hash_ in rows:
        if not verifier.check(seq, record, prev_hash, hash_):
            break
    return verifier.report


def _dumps(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _plain(value: Any) -> Any:
    """`value` as plain JSON data, in the form it reads back from a JSON column.

    A whole-number float becomes an int: the database keeps numbers as decimals and hands 1e16 back
    as an integer, which would otherwise hash differently from what was written.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError("details may not hold NaN or infinity")
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        _check_text(value, "details")
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise AuditError("details keys must be strings")
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise AuditError(f"details may hold only JSON values, not {type(value).__name__}")


def _check_keys(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and is_secret_looking(key):
                raise AuditError(f"{path}.{key} looks like it holds a secret; record a fact about it instead")
            _check_keys(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_keys(item, f"{path}[{index}]")


def _check_text(value: str, name: str) -> None:
    # Line breaks are fine (the log is data, and exports encode it), but PostgreSQL cannot store
    # NUL and UTF-8 cannot encode a lone surrogate: such a record could be hashed but never stored.
    if "\x00" in value:
        raise AuditError(f"{name} contains a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise AuditError(f"{name} is not valid Unicode text") from exc
