"""Reading CDR files: CSV, Parquet and JSON lines rows become the same records, malformed rows keep their line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kopek.batch.cdr_files import read_cdr_file
from kopek.errors import Code, InvalidError, KopekError

EXPECTED = {
    "id": "cdr-1",
    "item_class": "voice_call",
    "consumption_date": "2026-06-01T10:00:00+00:00",
    "service_id": "mobile",
    "user_id": "alice-msisdn",
    "properties": {"duration": "120", "destination": "33123"},
}


def test_csv_columns_beyond_the_fixed_ones_are_properties_and_empty_cells_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "id,item_class,consumption_date,service_id,user_id,duration,destination,roaming\n"
        "cdr-1,voice_call,2026-06-01T10:00:00+00:00,mobile,alice-msisdn,120,33123,\n"
    )
    assert list(read_cdr_file(path)) == [(2, EXPECTED)]


def test_csv_row_with_more_cells_than_columns_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    path.write_text("id,item_class\na,b\nc,d,e\n")
    rows = list(read_cdr_file(path))
    assert rows[0] == (2, {"id": "a", "item_class": "b", "properties": {}})
    line, error = rows[1]
    assert line == 3 and isinstance(error, KopekError) and error.code is Code.CDR_INVALID


def test_json_lines_keep_their_line_numbers_and_malformed_lines_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "cdrs.jsonl"
    path.write_text('{"id": "a", "properties": {"duration": 90.5}}\n\nnot json\n[1]\n')
    rows = list(read_cdr_file(path))
    assert [line for line, _ in rows] == [1, 3, 4]
    assert str(rows[0][1]["properties"]["duration"]) == "90.5"  # type: ignore[index]
    assert all(isinstance(error, InvalidError) for _, error in rows[1:])


def test_parquet_rows_read_like_csv_rows_numbers_as_exact_text(tmp_path: Path) -> None:
    path = tmp_path / "cdrs.parquet"
    table = pa.table(
        {
            "id": ["cdr-1"],
            "item_class": ["voice_call"],
            "consumption_date": ["2026-06-01T10:00:00+00:00"],
            "service_id": ["mobile"],
            "user_id": ["alice-msisdn"],
            "duration": pa.array([120], pa.int64()),
            "destination": ["33123"],
            "roaming": pa.array([None], pa.bool_()),
        }
    )
    pq.write_table(table, path)
    assert list(read_cdr_file(path)) == [(1, EXPECTED | {"properties": {"duration": 120, "destination": "33123"}})]


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidError) as refused:
        read_cdr_file(tmp_path / "cdrs.xlsx")
    assert refused.value.code is Code.CDR_FILE_FORMAT_UNKNOWN


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cdrs.parquet"
    path.write_text("not parquet")
    with pytest.raises(InvalidError) as refused:
        list(read_cdr_file(path))
    assert refused.value.code is Code.CDR_INVALID
