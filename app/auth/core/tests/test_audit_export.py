"""Audit exports: CSV cells a spreadsheet would run are neutralised, JSON chunks join into one document."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.auth.core.audit_export import EXPORT_COLUMNS, csv_cell, render_export

ROW = dict.fromkeys(EXPORT_COLUMNS, "") | {
    "seq": 1,
    "action": "project.created",
    "details": {"name": "x"},
}


@pytest.mark.parametrize(
    "dangerous", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_a_cell_that_starts_like_a_formula_is_prefixed_with_a_quote(dangerous: str) -> None:
    assert csv_cell(dangerous) == "'" + dangerous


@pytest.mark.parametrize("plain", ["", "Rocket skates", "a=b", "1-2", "olive@example.com", " =x"])
def test_other_cells_are_left_alone(plain: str) -> None:
    assert csv_cell(plain) == plain


def test_every_csv_field_is_made_safe_including_nested_details() -> None:
    row = ROW | {"user_agent": "=cmd|' /C calc'!A0", "details": {"name": "x"}, "actor_email": "@evil"}
    text = render_export([row], "csv", first=True, last=True)
    header, line = list(csv.reader(io.StringIO(text)))
    assert header == list(EXPORT_COLUMNS)
    values = dict(zip(header, line, strict=True))
    assert values["user_agent"] == "'=cmd|' /C calc'!A0"
    assert values["actor_email"] == "'@evil"
    assert json.loads(values["details"]) == {"name": "x"}


def test_json_chunks_streamed_one_after_another_make_one_array() -> None:
    chunks = [
        render_export([ROW, ROW | {"seq": 2}], "json", first=True, last=False),
        render_export([ROW | {"seq": 3}], "json", first=False, last=False),
        render_export([], "json", first=False, last=True),
    ]
    assert [item["seq"] for item in json.loads("".join(chunks))] == [1, 2, 3]
    assert json.loads(render_export([], "json", first=True, last=True)) == []


def test_ndjson_is_one_object_per_line() -> None:
    text = render_export([ROW, ROW | {"seq": 2}], "ndjson", first=True, last=False)
    assert [json.loads(line)["seq"] for line in text.splitlines()] == [1, 2]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        render_export([ROW], "xlsx", first=True, last=True)
