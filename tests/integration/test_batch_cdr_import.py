"""The CDR store: imports from files and rows, refused rows reported by line, ids never duplicated."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kopek import Engine
from kopek.batch.cdr_files import Row
from kopek.errors import AlreadyExistsError, Category, Code, InvalidError
from kopek.limits import CDR_IMPORT_ROWS_PER_STEP


def cdr(cdr_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": cdr_id,
        "item_class": "voice_call",
        "consumption_date": "2026-06-01T10:00:00+00:00",
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "properties": {"duration": "120", "destination": "33123"},
    } | changes


def rows(*records: dict[str, Any]) -> list[Row]:
    return [(line, record) for line, record in enumerate(records, start=1)]


def test_imported_cdrs_are_stored_pending_with_their_item(engine: Engine) -> None:
    report = engine.import_cdrs(rows(cdr("a"), cdr("b", properties={"duration": Decimal("90.5")})))
    assert (report.rows_read, report.cdrs_imported, report.rows_refused) == (2, 2, 0)
    stored = engine.cdr("a")
    assert stored.status == "pending" and stored.job_id is None and stored.operation_id is None
    assert stored.properties == {"duration": "120", "destination": "33123"}
    assert stored.consumption_date.isoformat() == "2026-06-01T10:00:00+00:00"
    assert engine.cdr("b").properties["duration"] == "90.5"
    assert engine.cdr_counts() == {"pending": 2}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(cdr("x", consumption_date="2026-06-01T10:00:00"), id="date-without-time-zone"),
        pytest.param({k: v for k, v in cdr("x").items() if k != "user_id"}, id="missing-user-id"),
        pytest.param(cdr("x" * 129), id="id-too-long"),
        pytest.param(cdr("x", properties={f"p{n}": n for n in range(65)}), id="too-many-properties"),
        pytest.param(cdr("x", colour="red"), id="unknown-field"),
    ],
)
def test_a_malformed_row_is_reported_with_its_line_and_good_rows_are_still_imported(engine: Engine, bad: dict[str, Any]) -> None:
    report = engine.import_cdrs(rows(cdr("a"), bad, cdr("c")))
    assert (report.cdrs_imported, report.rows_refused) == (2, 1)
    failure = report.failures[0]
    assert (failure.line, failure.category, failure.code) == (2, Category.INVALID, Code.CDR_INVALID)
    assert engine.cdr_counts() == {"pending": 2}


def test_reimporting_an_id_is_refused_per_row_and_never_duplicated(engine: Engine) -> None:
    engine.import_cdrs(rows(cdr("a")))
    report = engine.import_cdrs(rows(cdr("b"), cdr("a", user_id="bob-msisdn"), cdr("b")))
    assert report.cdrs_imported == 1
    assert [(f.line, f.cdr_id, f.category, f.code) for f in report.failures] == [
        (2, "a", Category.ALREADY_EXISTS, Code.ALREADY_EXISTS),
        (3, "b", Category.ALREADY_EXISTS, Code.ALREADY_EXISTS),
    ]
    assert engine.cdr("a").user_id == "alice-msisdn"
    assert engine.cdr_counts() == {"pending": 2}


def test_strict_import_stops_at_the_first_refused_row_and_stores_nothing(engine: Engine) -> None:
    many = [cdr(f"ok-{n}") for n in range(CDR_IMPORT_ROWS_PER_STEP + 5)]
    with pytest.raises(InvalidError) as refused:
        engine.import_cdrs(rows(*many, cdr("bad", consumption_date="yesterday")), strict=True)
    assert refused.value.code is Code.CDR_INVALID
    engine.import_cdrs(rows(cdr("a")))
    with pytest.raises(AlreadyExistsError):
        engine.import_cdrs(rows(cdr("b"), cdr("a")), strict=True)
    assert engine.cdr_counts() == {"pending": 1}


def test_an_import_larger_than_one_step_commits_every_good_row(engine: Engine) -> None:
    count = CDR_IMPORT_ROWS_PER_STEP * 2 + 3
    report = engine.import_cdrs((line, cdr(f"c{line}")) for line in range(1, count + 1))
    assert report.cdrs_imported == count
    assert engine.cdr_counts() == {"pending": count}


def test_a_json_lines_file_is_imported_with_line_numbers_of_the_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.jsonl"
    path.write_text(json.dumps(cdr("a")) + "\n{broken\n" + json.dumps(cdr("c")) + "\n")
    report = engine.import_cdr_file(path)
    assert report.cdrs_imported == 2
    assert [(f.line, f.code) for f in report.failures] == [(2, Code.CDR_INVALID)]


def test_a_csv_file_is_imported_with_extra_columns_as_properties(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "id,item_class,consumption_date,service_id,user_id,duration,destination\n"
        "a,voice_call,2026-06-01T10:00:00+00:00,mobile,alice-msisdn,120,33123\n"
        "b,voice_call,not-a-date,mobile,alice-msisdn,120,33123\n"
    )
    report = engine.import_cdr_file(path)
    assert report.cdrs_imported == 1
    assert [(f.line, f.cdr_id) for f in report.failures] == [(3, "b")]
    assert engine.cdr("a").properties == {"duration": "120", "destination": "33123"}
