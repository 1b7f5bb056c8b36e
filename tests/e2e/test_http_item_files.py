"""``/v1/item-files`` with the real app: export into the server's folder, list the files, read a manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from kopek import Engine, limits
from kopek.api.app import create_app
from tests.e2e.http_world import ok
from tests.worlds import build_world


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    build_world(engine)
    with TestClient(create_app(engine, item_files_directory=tmp_path / "items")) as client:
        yield client


def _charge(client: TestClient, seconds: int) -> None:
    item = {
        "item_class": "voice_call",
        "consumption_date": "2026-06-01T10:00:00+00:00",
        "service_id": "mobile",
        "user_id": "bob-msisdn",
        "properties": {"duration": str(seconds), "destination": "33123"},
    }
    ok(client.post("/v1/charging", json={"item": item, "options": {"export_chargeable_item": True}}), 201)


def test_export_writes_files_into_the_server_folder_and_the_index_lists_them(served: TestClient, tmp_path: Path) -> None:
    for seconds in (61, 90, 125):
        _charge(served, seconds)

    report = ok(served.post("/v1/item-files:export", json={"kind": "billable", "rows_per_file": 2}))

    assert (report["files_written"], report["rows_written"]) == (2, 3)
    listed = ok(served.get("/v1/item-files", params={"kind": "billable"}))
    assert [item["row_count"] for item in listed["files"]] == [2, 1] and listed["next_after_id"] is None
    first = ok(served.get(f"/v1/item-files/{listed['files'][0]['id']}"))
    manifest = json.loads((tmp_path / "items" / "billable" / "_billable-0000000001.manifest.json").read_text())
    assert first["sha256"] == manifest["sha256"] and first["amount_totals"] == manifest["amount_totals"]
    total = duckdb.sql(f"SELECT sum(CAST(amount AS DECIMAL(38, 12))) FROM '{tmp_path}/items/billable/*.parquet'").fetchone()
    assert total is not None and total[0] == Decimal("3.60")
    assert ok(served.get("/v1/item-files", params={"kind": "consumption"}))["files"] == []


def test_the_index_pages_with_after_id(served: TestClient) -> None:
    for seconds in (61, 90, 125):
        _charge(served, seconds)
    ok(served.post("/v1/item-files:export", json={"rows_per_file": 1}))

    page = ok(served.get("/v1/item-files", params={"limit": 4}))

    assert len(page["files"]) == 4 and page["next_after_id"] == page["files"][-1]["id"]
    rest = ok(served.get("/v1/item-files", params={"after_id": page["next_after_id"]}))
    assert len(rest["files"]) == 5 and rest["next_after_id"] is None


def test_an_unknown_item_file_does_not_exist(served: TestClient) -> None:
    response = served.get("/v1/item-files/99")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_rows_per_file_past_the_bound_is_refused(served: TestClient) -> None:
    response = served.post("/v1/item-files:export", json={"rows_per_file": limits.ITEM_FILE_ROWS_MAX + 1})
    assert response.status_code == 422 and response.json()["code"] == "limit_exceeded"


def test_an_unknown_kind_is_invalid(served: TestClient) -> None:
    response = served.post("/v1/item-files:export", json={"kind": "invoices"})
    assert response.status_code == 422 and response.json()["category"] == "INVALID"
