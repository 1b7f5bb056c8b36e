"""``kopek cdrs import`` and ``kopek cdrs show`` with the CLI runner on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.cli_support import ALICE, BOB, EXAMPLE_CATALOG, EXAMPLE_MASTER_DATA, Kopek

HEADER = "id,item_class,consumption_date,service_id,user_id,destination\n"


def _row(cdr_id: str, date: str = "2026-06-01T10:00:00+00:00") -> str:
    return f"{cdr_id},sms,{date},mobile,alice-msisdn,33123\n"


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    return Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}")


def test_import_of_a_csv_file_reports_counts_and_stores_pending_cdrs(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    path.write_text(HEADER + _row("a") + _row("b"))
    report = kopek.json("cdrs", "import", str(path))
    assert (report["cdrs_imported"], report["rows_refused"]) == (2, 0)
    shown = kopek.json("cdrs", "show", "a")
    assert shown["status"] == "pending" and shown["properties"] == {"destination": "33123"}
    assert "2 row(s) read, 0 CDR(s) imported, 2 refused" in kopek.db("cdrs", "import", str(path)).stdout


def test_a_refused_row_is_listed_by_line_and_exits_1_while_good_rows_are_imported(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    path.write_text(HEADER + _row("a") + _row("b", "tomorrow") + _row("c"))
    result = kopek.db("cdrs", "import", str(path))
    assert result.exit_code == 1
    assert "3 row(s) read, 2 CDR(s) imported, 1 refused" in result.stdout
    assert "cdr_invalid" in result.stdout
    again = kopek.db("cdrs", "import", str(path), "--json")
    assert json.loads(again.stdout)["cdrs_imported"] == 0


def test_a_non_strict_import_prints_the_reasons_of_the_first_refused_rows_and_counts_the_rest(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.csv"
    naive = [_row(f"n{number:02d}", "2026-06-01T10:00:00") for number in range(25)]
    path.write_text(HEADER + _row("good") + "".join(naive))
    result = kopek.db("cdrs", "import", str(path))
    assert result.exit_code == 1
    shown = result.stdout
    assert "26 row(s) read, 1 CDR(s) imported, 25 refused" in shown
    assert shown.count("consumption_date: Value error, a date and time must carry a time zone offset") == 20
    assert "n19" in shown and "n20" not in shown
    assert "... and 5 more refused row(s)" in shown
    report = json.loads(kopek.db("cdrs", "import", str(path), "--json").stdout)
    assert report["failures"][1]["details"][0]["location"] == ["consumption_date"]


def test_strict_import_stores_nothing_when_a_row_is_refused(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.jsonl"
    good = {"id": "a", "item_class": "sms", "consumption_date": "2026-06-01T10:00:00+00:00", "service_id": "mobile", "user_id": "u"}
    path.write_text(json.dumps(good) + "\n{oops\n")
    error = kopek.refused("cdrs", "import", str(path), "--strict")
    assert error["code"] == "cdr_invalid" and "line 2" in error["message"]
    assert kopek.refused("cdrs", "show", "a")["category"] == "DOES_NOT_EXIST"


def test_import_of_a_parquet_file(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b"],
                "item_class": ["data_session"] * 2,
                "consumption_date": ["2026-06-01T10:00:00+00:00"] * 2,
                "service_id": ["mobile"] * 2,
                "user_id": ["alice-msisdn"] * 2,
                "volume": pa.array([1_000_000, 2_000_000], pa.int64()),
            }
        ),
        path,
    )
    assert kopek.json("cdrs", "import", str(path))["cdrs_imported"] == 2
    assert kopek.json("cdrs", "show", "b")["properties"] == {"volume": 2_000_000}


def test_a_file_of_unknown_format_is_refused(kopek: Kopek, tmp_path: Path) -> None:
    path = tmp_path / "cdrs.txt"
    path.write_text("x")
    assert kopek.refused("cdrs", "import", str(path))["code"] == "cdr_file_format_unknown"


def test_rate_charges_pending_cdrs_in_the_foreground_and_jobs_status_reads_the_job(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    path = tmp_path / "cdrs.csv"
    header = "id,item_class,consumption_date,service_id,user_id,destination\n"
    path.write_text(header + f"a,sms,2026-06-01T10:00:00+00:00,mobile,{ALICE},33123\nb,sms,2026-06-01T11:00:00+00:00,mobile,nobody,33123\n")
    kopek.ok("cdrs", "import", str(path))
    result = kopek.db("rate", "--mode", "DAY_MOST", "--json")
    assert result.exit_code == 1
    status = json.loads(result.stdout)
    assert (status["total"], status["charged"], status["failed"], status["state"]) == (2, 1, 1, "completed_with_errors")
    assert [(each["path"], each["reason"], each["count"]) for each in status["paths"]] == [
        ("vectorized", None, 1),
        ("row", "cdr_without_contract", 1),
    ]
    shown = kopek.ok("jobs", "status", status["id"]).stdout
    assert "1 charged, 1 failed" in shown and "access_not_found" in shown
    assert "Paths" in shown and "cdr_without_contract" in shown and "a CDR has no contract" in shown
    again = json.loads(kopek.db("rate", "--worker", status["id"], "--json").stdout)
    assert again["charged"] == 1
    assert kopek.json("cdrs", "show", "a")["status"] == "charged"


def test_rate_with_two_workers_charges_every_cdr_and_needs_at_least_one(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    path = tmp_path / "cdrs.csv"
    users = [ALICE, BOB, "33698765432"]
    rows = [f"c{number},sms,2026-06-01T{10 + number % 10:02d}:00:00+00:00,mobile,{users[number % 3]},33123\n" for number in range(30)]
    path.write_text(HEADER + "".join(rows))
    kopek.ok("cdrs", "import", str(path))
    status = kopek.json("rate", "--mode", "DAY_MOST", "--workers", "2", "--chunk-cdrs", "1")
    assert (status["total"], status["charged"], status["pending"], status["state"]) == (30, 30, 0, "succeeded")
    refused = kopek.db("rate", "--workers", "0")
    assert refused.exit_code == 2 and "--workers" in refused.stderr


def test_rate_retry_failed_takes_again_the_cdrs_that_failed_for_good(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    path = tmp_path / "cdrs.csv"
    path.write_text(HEADER + "a,sms,2026-06-01T10:00:00+00:00,mobile,nobody,33123\n")
    kopek.ok("cdrs", "import", str(path))
    assert kopek.db("rate", "--json").exit_code == 1
    assert kopek.json("rate")["total"] == 0
    again = json.loads(kopek.db("rate", "--retry-failed", "--json").stdout)
    assert (again["total"], again["failed"], again["filters"]["retry_failed"]) == (1, 1, True)
    assert kopek.json("cdrs", "show", "a")["job_id"] == again["id"]


def test_rate_with_a_date_range_takes_only_cdrs_inside_it(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    path = tmp_path / "cdrs.csv"
    path.write_text(HEADER + f"a,sms,2026-06-01T10:00:00+00:00,mobile,{ALICE},33123\n")
    kopek.ok("cdrs", "import", str(path))
    later = kopek.json("rate", "--from", "2026-06-02", "--to", "2026-07-01")
    assert (later["total"], later["state"]) == (0, "succeeded")
    assert kopek.json("rate", "--from", "2026-06-01", "--item-class", "sms")["charged"] == 1


def test_rate_refuses_an_inverted_date_range_or_an_unknown_contract_naming_the_field(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    error = kopek.refused("rate", "--from", "2026-06-02", "--to", "2026-06-01")
    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")
    assert error["details"][0]["location"] == ["filters", "date_to"]
    error = kopek.refused("rate", "--contract", "no-such-contract")
    assert error["details"][0]["location"] == ["filters", "contract_id", 0]
    assert kopek.json("jobs", "list")["rating_jobs"] == []
    text = kopek.db("rate", "--from", "2026-06-02", "--to", "2026-06-01")
    assert text.exit_code == 1 and "filters.date_to: date_to must be after date_from" in text.stderr


def test_rate_with_a_contract_filter_and_jobs_cancel_of_a_finished_job(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
    path = tmp_path / "cdrs.csv"
    path.write_text(HEADER + f"a,sms,2026-06-01T10:00:00+00:00,mobile,{ALICE},33123\n")
    kopek.ok("cdrs", "import", str(path))
    other = kopek.json("rate", "--from", "2026-07-01")
    assert (other["total"], other["state"]) == (0, "succeeded")
    error = kopek.refused("jobs", "cancel", other["id"])
    assert (error["category"], error["code"]) == ("ILLEGAL_STATE", "rating_job_already_finished")
    assert kopek.refused("jobs", "cancel", "nope")["code"] == "not_found"
