"""``kopek items export``, ``list`` and ``show`` with the CLI runner on a SQLite file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from tests.e2e.cli_support import ALICE, BOB, Kopek, call


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    charged = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    for user, seconds in ((ALICE, 30), (BOB, 95), (BOB, 300)):
        charged.ok(*call(user, seconds=seconds, destination="33123"))
    return charged


def test_export_writes_parquet_files_with_manifests_readable_by_duckdb(kopek: Kopek, tmp_path: Path) -> None:
    report = kopek.json("items", "export", "--dir", str(tmp_path / "out"), "--rows-per-file", "2")

    billable = [file for file in report["files"] if file["kind"] == "billable"]
    assert sum(file["row_count"] for file in billable) == 3
    for file in report["files"]:
        path = tmp_path / "out" / file["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == file["sha256"]
    rows = duckdb.sql(f"SELECT count(*) FROM '{tmp_path}/out/billable/*.parquet'").fetchone()
    assert rows == (3,)
    assert kopek.json("items", "export", "--dir", str(tmp_path / "out"))["files"] == []


def test_export_of_one_kind_as_csv_then_list_and_show(kopek: Kopek, tmp_path: Path) -> None:
    result = kopek.ok("items", "export", "--dir", str(tmp_path / "out"), "--kind", "billable", "--format", "csv")
    assert "1 file(s) written, 3 row(s)" in result.stdout
    assert (tmp_path / "out" / "billable" / "billable-0000000001.csv").exists()

    listed = kopek.json("items", "list", "--kind", "billable")
    assert [(file["id"], file["format"], file["state"]) for file in listed["files"]] == [(1, "csv", "complete")]
    assert listed["next_after_id"] is None
    assert "billable/billable-0000000001.csv" in kopek.ok("items", "list").stdout
    assert kopek.json("items", "show", "1")["row_count"] == 3


def test_rows_per_file_past_the_bound_and_an_unknown_file_are_refused(kopek: Kopek, tmp_path: Path) -> None:
    assert kopek.refused("items", "export", "--dir", str(tmp_path), "--rows-per-file", "1000001")["code"] == "limit_exceeded"
    assert kopek.refused("items", "show", "7")["code"] == "not_found"
