"""The CDR store over HTTP with the real app: bulk import with per-row refusals, reading a stored CDR."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from kopek import Engine, limits
from kopek.api.app import create_app
from tests.e2e.http_world import ok
from tests.worlds import build_world


def _cdr(cdr_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": cdr_id,
        "item_class": "sms",
        "consumption_date": "2026-06-01T10:00:00+00:00",
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "properties": {"destination": "33123"},
    } | changes


def test_imported_cdrs_are_stored_pending_and_a_bad_row_is_reported_by_position(bare_client: TestClient) -> None:
    body = {"cdrs": [_cdr("a"), _cdr("b", consumption_date="soon"), _cdr("c", properties={"duration": 90.5})]}
    report = ok(bare_client.post("/v1/cdrs", json=body), 201)
    assert (report["rows_read"], report["cdrs_imported"], report["rows_refused"]) == (3, 2, 1)
    assert report["failures"][0]["line"] == 2 and report["failures"][0]["code"] == "cdr_invalid"
    stored = ok(bare_client.get("/v1/cdrs/c"))
    assert stored["status"] == "pending" and stored["properties"] == {"duration": "90.5"}


def test_reimporting_an_id_is_reported_as_already_existing(bare_client: TestClient) -> None:
    ok(bare_client.post("/v1/cdrs", json={"cdrs": [_cdr("a")]}), 201)
    report = ok(bare_client.post("/v1/cdrs", json={"cdrs": [_cdr("a"), _cdr("b")]}), 201)
    assert report["cdrs_imported"] == 1
    assert report["failures"][0]["category"] == "ALREADY_EXISTS" and report["failures"][0]["cdr_id"] == "a"


def test_strict_import_answers_the_first_refusal_and_stores_nothing(bare_client: TestClient) -> None:
    response = bare_client.post("/v1/cdrs", json={"cdrs": [_cdr("a"), _cdr("b", user_id="")], "strict": True})
    assert response.status_code == 422 and response.json()["code"] == "cdr_invalid"
    assert bare_client.get("/v1/cdrs/a").json()["category"] == "DOES_NOT_EXIST"


def test_a_request_with_more_cdrs_than_the_bulk_limit_is_invalid(bare_client: TestClient) -> None:
    body = {"cdrs": [{"id": str(n)} for n in range(limits.BULK_RECORDS_PER_REQUEST_MAX + 1)]}
    response = bare_client.post("/v1/cdrs", json=body)
    assert response.status_code in {400, 422} and response.json()["category"] == "INVALID"


def test_reading_an_unknown_cdr_is_does_not_exist(bare_client: TestClient) -> None:
    response = bare_client.get("/v1/cdrs/nope")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def _job_done(client: TestClient, job_id: str) -> Any:
    """The job's status once the thread the app runs it in has ended."""
    client.app.state.kopek.job_threads.join()  # type: ignore[attr-defined]
    status = ok(client.get(f"/v1/rating-jobs/{job_id}"))
    assert status["state"] not in {"queued", "running"}, status
    return status


def test_a_stopping_app_waits_for_the_rating_jobs_it_started(engine: Engine) -> None:
    build_world(engine)
    with TestClient(create_app(engine)) as served:
        ok(served.post("/v1/cdrs", json={"cdrs": [_cdr(f"w{n}") for n in range(20)]}), 201)
        job_id = ok(served.post("/v1/rating-jobs", json={}), 201)["id"]
    assert not [thread for thread in threading.enumerate() if thread.name == f"kopek-{job_id}"]
    assert engine.rating_job(job_id).state.value == "succeeded"


def test_a_rating_job_started_over_http_runs_in_the_background_and_reports_its_status(client: TestClient) -> None:
    cdrs = [_cdr("a"), _cdr("b", user_id="bob-msisdn"), _cdr("c", user_id="nobody")]
    ok(client.post("/v1/cdrs", json={"cdrs": cdrs}), 201)
    started = ok(client.post("/v1/rating-jobs", json={"mode": "DAY_MOST"}), 201)
    assert started["total"] == 3 and started["mode"] == "DAY_MOST"
    status = _job_done(client, started["id"])
    assert (status["state"], status["charged"], status["failed"], status["progress"]) == ("completed_with_errors", 2, 1, 1.0)
    assert status["errors"] == [{"category": "PREREQUISITE_MISSING", "reason": "NOT_AUTHORIZED", "code": "access_not_found", "count": 1}]
    assert sum(each["count"] for each in status["paths"]) == 3
    assert {"path": "row", "reason": "cdr_without_contract", "detail": "a CDR has no contract", "count": 1} in status["paths"]
    assert ok(client.get("/v1/cdrs/a"))["status"] == "charged"
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "9.90"
    # The job's debit names its chunk, which leads to the CDRs behind it.
    (debit,) = [each for each in ok(client.get("/v1/accounts/alice-prepaid/operations"))["operations"] if each["kind"] == "debit"]
    assert (debit["operation_id"], debit["amount"], debit["balance_after"]) == (None, "-0.10", "9.90")
    listed = ok(client.get("/v1/cdrs", params={"chunk_id": debit["chunk_id"]}))["cdrs"]
    assert "a" in [view["id"] for view in listed]
    assert {view["chunk_id"] for view in listed} == {debit["chunk_id"]}


def test_a_job_with_retry_failed_takes_the_failed_cdrs_of_ended_jobs(client: TestClient) -> None:
    ok(client.post("/v1/cdrs", json={"cdrs": [_cdr("a", user_id="nobody")]}), 201)
    first = _job_done(client, ok(client.post("/v1/rating-jobs", json={}), 201)["id"])
    assert (first["failed"], first["temporarily_failed"]) == (1, 0)
    assert ok(client.post("/v1/rating-jobs", json={}), 201)["total"] == 0
    again = ok(client.post("/v1/rating-jobs", json={"filters": {"retry_failed": True}}), 201)
    assert again["total"] == 1 and again["filters"]["retry_failed"] is True
    assert client.post("/v1/rating-jobs", json={"filters": {"retry_failed": "yes"}}).status_code == 422
    client.app.state.kopek.job_threads.join()  # type: ignore[attr-defined]


def test_an_unknown_mode_is_invalid_and_an_unknown_job_does_not_exist(client: TestClient) -> None:
    assert client.post("/v1/rating-jobs", json={"mode": "FASTEST"}).status_code == 422
    assert client.get("/v1/rating-jobs/nope").json()["code"] == "not_found"


def test_a_contract_filter_takes_one_contract_and_cancelling_a_finished_job_is_an_illegal_state(client: TestClient) -> None:
    ok(client.post("/v1/cdrs", json={"cdrs": [_cdr("a"), _cdr("b", user_id="bob-msisdn")]}), 201)
    started = ok(client.post("/v1/rating-jobs", json={"mode": "DAY_MOST", "filters": {"contract_id": "bob-contract"}}), 201)
    assert started["total"] == 1 and started["filters"]["contract_id"] == ["bob-contract"]
    status = _job_done(client, started["id"])
    assert status["charged"] == 1 and ok(client.get("/v1/cdrs/a"))["status"] == "pending"
    refused = client.post(f"/v1/rating-jobs/{started['id']}:cancel")
    assert refused.status_code == 409 and refused.json()["code"] == "rating_job_already_finished"
    assert client.post("/v1/rating-jobs/nope:cancel").json()["code"] == "not_found"


def test_a_contract_filter_past_its_bound_is_invalid(client: TestClient) -> None:
    contracts = [f"c{number}" for number in range(limits.RATING_JOB_CONTRACTS_MAX + 1)]
    response = client.post("/v1/rating-jobs", json={"filters": {"contract_id": contracts}})
    assert response.status_code == 422 and response.json()["category"] == "INVALID"
    # At the bound the list is taken; these contracts do not exist, so each is named.
    at_bound = client.post("/v1/rating-jobs", json={"filters": {"contract_id": contracts[:-1]}})
    assert at_bound.status_code == 422 and at_bound.json()["code"] == "request_invalid"
    assert len(at_bound.json()["details"]) == limits.RATING_JOB_CONTRACTS_MAX
    assert at_bound.json()["details"][1]["location"] == ["filters", "contract_id", 1]


def test_a_job_request_with_an_inverted_date_range_or_an_unknown_contract_is_invalid_and_starts_no_job(client: TestClient) -> None:
    ok(client.post("/v1/cdrs", json={"cdrs": [_cdr("a")]}), 201)
    dates = {"date_from": "2026-06-02T00:00:00+00:00", "date_to": "2026-06-01T00:00:00+00:00"}
    for filters, location in (
        (dates, ["filters", "date_to"]),
        ({"contract_id": ["alice-contract", "nobody-contract"]}, ["filters", "contract_id", 1]),
        ({"item_class": "fax"}, ["filters", "item_class"]),
    ):
        response = client.post("/v1/rating-jobs", json={"filters": filters})
        assert response.status_code == 422 and response.json()["code"] == "request_invalid", response.json()
        assert [detail["location"] for detail in response.json()["details"]] == [location]
    assert ok(client.get("/v1/rating-jobs"))["rating_jobs"] == []
    assert ok(client.get("/v1/cdrs/a"))["job_id"] is None


def test_a_job_request_before_any_catalog_is_loaded_is_refused(bare_client: TestClient) -> None:
    response = bare_client.post("/v1/rating-jobs", json={})
    assert response.status_code == 404 and response.json()["code"] == "catalog_not_loaded"


def test_a_non_strict_import_reports_each_faulty_rows_reasons_by_field(bare_client: TestClient) -> None:
    body = {"cdrs": [_cdr("a", consumption_date="2026-06-01T10:00:00"), _cdr("b", user_id="", service_id=None)]}
    report = ok(bare_client.post("/v1/cdrs", json=body), 201)
    first, second = report["failures"]
    assert [detail["location"] for detail in first["details"]] == [["consumption_date"]]
    assert "time zone" in first["details"][0]["message"]
    assert sorted(detail["location"][0] for detail in second["details"]) == ["service_id", "user_id"]
