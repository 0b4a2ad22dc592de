"""Audit records: what validation refuses, the canonical bytes, and tamper detection by the hash chain."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.auth.core.audit import (
    AuditError,
    AuditRecord,
    canonical_bytes,
    chain_hash,
    is_secret_looking,
    validate,
    verify_chain,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
Row = tuple[int, AuditRecord, bytes | None, bytes]


def record(**overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {"occurred_at": T0, "action": "auth.login.succeeded", "outcome": "success"}
    return AuditRecord(**(values | overrides))


def chain(count: int) -> list[Row]:
    rows: list[Row] = []
    prev: bytes | None = None
    for seq in range(1, count + 1):
        rec = record(occurred_at=T0 + timedelta(seconds=seq), details={"n": seq})
        digest = chain_hash(prev, rec)
        rows.append((seq, rec, prev, digest))
        prev = digest
    return rows


# --- canonical bytes and hashing


def test_canonical_bytes_are_compact_sorted_json_with_a_utc_microsecond_timestamp() -> None:
    rec = record(
        occurred_at=datetime(2030, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        actor_id="a1",
        details={"b": 1, "a": {"z": "é", "y": [1, 2]}},
    )
    assert (
        canonical_bytes(rec)
        == (
            '{"action":"auth.login.succeeded","actor_id":"a1","details":{"a":{"y":[1,2],"z":"é"},"b":1},'
            '"impersonator_id":null,"ip_address":"","occurred_at":"2030-01-01T12:00:00.000000+00:00",'
            '"outcome":"success","target_id":"","target_type":"","user_agent":""}'
        ).encode()
    )


def test_the_same_instant_in_another_timezone_hashes_the_same() -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    assert chain_hash(None, record(occurred_at=local)) == chain_hash(None, record())


def test_whole_number_floats_hash_like_the_integers_the_database_reads_back() -> None:
    assert canonical_bytes(record(details={"n": 1e16})) == canonical_bytes(record(details={"n": 10**16}))
    assert canonical_bytes(record(details={"n": 2.5})) != canonical_bytes(record(details={"n": 2}))


def test_the_first_event_is_chained_to_32_zero_bytes() -> None:
    rec = record()
    assert chain_hash(None, rec) == hashlib.sha256(bytes(32) + canonical_bytes(rec)).digest()


def test_each_hash_covers_the_previous_one() -> None:
    rec = record()
    assert chain_hash(b"\x01" * 32, rec) != chain_hash(b"\x02" * 32, rec)


def test_a_previous_hash_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(AuditError):
        chain_hash(b"short", record())


# --- verifying a chain


def test_an_intact_chain_verifies() -> None:
    report = verify_chain(chain(5))
    assert report.ok
    assert report.checked == 5
    assert report.first_broken_seq is None


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([]).ok


def test_gaps_in_seq_are_not_breaks() -> None:
    # Rolled-back transactions use up sequence numbers; the links are what matter.
    rows = [(seq * 10, rec, prev, digest) for seq, rec, prev, digest in chain(3)]
    assert verify_chain(rows).ok


def test_an_edited_row_is_reported() -> None:
    rows = chain(5)
    seq, rec, prev, digest = rows[2]
    rows[2] = (seq, replace(rec, details={"n": 999}), prev, digest)
    report = verify_chain(rows)
    assert not report.ok
    assert report.first_broken_seq == 3
    assert report.checked == 2
    assert "edited" in report.reason


def test_a_deleted_row_is_reported_at_the_row_after_it() -> None:
    rows = chain(5)
    del rows[2]
    report = verify_chain(rows)
    assert report.first_broken_seq == 4
    assert "removed" in report.reason


def test_a_deleted_first_row_is_reported() -> None:
    assert verify_chain(chain(3)[1:]).first_broken_seq == 2


def test_a_chain_pruned_by_retention_verifies_from_its_anchor() -> None:
    rows = chain(4)
    assert verify_chain(rows[2:], anchor=rows[1][3]).ok


def test_reordered_rows_are_reported() -> None:
    rows = chain(4)
    # Swap the contents of rows 2 and 3 but keep the seq numbers in order.
    (s2, r2, p2, h2), (s3, r3, p3, h3) = rows[1], rows[2]
    rows[1], rows[2] = (s2, r3, p3, h3), (s3, r2, p2, h2)
    assert verify_chain(rows).first_broken_seq == 2


def test_rows_out_of_seq_order_are_reported() -> None:
    rows = chain(3)
    assert verify_chain([rows[0], rows[2], rows[1]]).first_broken_seq == 3


def test_a_forged_hash_is_reported() -> None:
    rows = chain(3)
    seq, rec, prev, _ = rows[1]
    rows[1] = (seq, rec, prev, b"\x00" * 32)
    assert verify_chain(rows).first_broken_seq == 2


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows = chain(3)
    seq, rec, prev, _ = rows[1]
    forged = replace(rec, outcome="failure")
    rows[1] = (seq, forged, prev, chain_hash(prev, forged))
    assert verify_chain(rows).first_broken_seq == 3


# --- validation


def test_a_well_formed_record_is_valid() -> None:
    validate(
        record(actor_id="u1", impersonator_id="admin1", details={"method": "password", "factor": "totp"}),
        max_detail_bytes=8192,
    )


@pytest.mark.parametrize(
    "action", ["login", "Auth.Login", "auth..login", "auth.login.", "auth.log-in", "auth.1login", ""]
)
def test_actions_must_be_dotted_snake_case(action: str) -> None:
    with pytest.raises(AuditError, match="action"):
        validate(record(action=action), max_detail_bytes=8192)


def test_the_outcome_is_success_or_failure() -> None:
    with pytest.raises(AuditError, match="outcome"):
        validate(record(outcome="ok"), max_detail_bytes=8192)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(AuditError, match="timezone"):
        validate(record(occurred_at=datetime(2030, 1, 1)), max_detail_bytes=8192)


def test_an_impersonator_without_an_actor_is_refused() -> None:
    with pytest.raises(AuditError, match="impersonated"):
        validate(record(impersonator_id="admin1"), max_detail_bytes=8192)


@pytest.mark.parametrize(
    "details",
    [
        {"password": "x"},
        {"new_password": "x"},
        {"x": {"apiToken": 1}},
        {"items": [{"ok": 1}, {"otp": "123456"}]},
        {"API_KEY": "x"},
        {"APIKey": "x"},
        {"x-api-key": "x"},
        {"accesstoken": "x"},
        {"sessionId": "x"},
        {"Authorization": "Bearer x"},
        {"client_secret": "x"},
        {"backup_codes": ["a"]},
        {"code": "123456"},
        {"resetCode": "x"},
        {"totp": "x"},
        {"passcode": "x"},
        {"Cookie": "x"},
        {"privateKey": "x"},
    ],
)
def test_secret_looking_keys_are_refused_at_any_depth(details: dict[str, Any]) -> None:
    with pytest.raises(AuditError, match="secret"):
        validate(record(details=details), max_detail_bytes=8192)


@pytest.mark.parametrize(
    "key",
    [
        "country_code",
        "statusCode",
        "HTTPStatusCode",
        "error_code",
        "sort_key",
        "method",
        "factor",
        "keyboard",
    ],
)
def test_ordinary_keys_are_not_secret_looking(key: str) -> None:
    assert not is_secret_looking(key)


def test_details_may_take_up_to_the_limit_in_bytes() -> None:
    fits = {"note": "x" * (100 - len('{"note":""}'))}
    validate(record(details=fits), max_detail_bytes=100)
    with pytest.raises(AuditError, match="bytes"):
        validate(record(details={"note": fits["note"] + "é"}), max_detail_bytes=100)


@pytest.mark.parametrize(
    "details",
    [{"when": T0}, {"raw": b"x"}, {"tags": {"a"}}, {1: "x"}, {"n": float("nan")}, {"n": float("inf")}],
)
def test_details_must_be_plain_json(details: dict[Any, Any]) -> None:
    with pytest.raises(AuditError):
        validate(record(details=details), max_detail_bytes=8192)


def test_line_breaks_are_kept_as_data() -> None:
    validate(
        record(user_agent="evil\r\nX-Injected: 1", details={"name": "Bob\r\nBcc: x"}), max_detail_bytes=8192
    )


@pytest.mark.parametrize("field", ["user_agent", "target_id", "details"])
def test_nul_characters_are_refused(field: str) -> None:
    value: Any = {"name": "a\x00b"} if field == "details" else "a\x00b"
    with pytest.raises(AuditError, match="NUL"):
        validate(record(**{field: value}), max_detail_bytes=8192)


@pytest.mark.parametrize(("field", "limit"), [("user_agent", 512), ("ip_address", 45), ("action", 100)])
def test_long_fields_are_refused(field: str, limit: int) -> None:
    value = "a." + "b" * (limit - 1) if field == "action" else "x" * (limit + 1)
    with pytest.raises(AuditError, match=str(limit)):
        validate(record(**{field: value}), max_detail_bytes=8192)
