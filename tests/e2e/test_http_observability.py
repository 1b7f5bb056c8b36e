"""What an operator sees of the HTTP API: request ids, error stacks, metrics for every operation, log lines, the API pages."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kopek import Engine
from kopek.api.app import api_routes, create_app
from kopek.api.logs import JsonFormatter
from tests.e2e.http_world import error_of, ok
from tests.worlds import AT

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _start(session_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "consumption_date": AT.isoformat(),
        "ttl_ms": 60_000,
        "quantity_property": "duration",
        "requested_quantity": "300",
        "item": {"item_class": "voice_call", "properties": {"destination": "33123"}},
        **extra,
    }


# ---- request ids ------------------------------------------------------------------------------------


def test_a_plausible_request_id_is_kept_and_echoed(client: TestClient) -> None:
    response = client.get("/v1/accounts/alice-prepaid", headers={"X-Request-Id": "gw-7f3a:42"})

    assert response.headers["X-Request-Id"] == "gw-7f3a:42"


@pytest.mark.parametrize("given", [None, "has spaces", "x" * 129], ids=["absent", "odd", "too-long"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(client: TestClient, given: str | None) -> None:
    response = client.get("/v1/accounts/alice-prepaid", headers={} if given is None else {"X-Request-Id": given})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


def test_an_error_body_carries_the_request_id(client: TestClient) -> None:
    response = client.get("/v1/accounts/nobody", headers={"X-Request-Id": "trace-1"})

    assert error_of(response, 404)["request_id"] == "trace-1"


# ---- error stacks -------------------------------------------------------------------------------------


def test_a_refused_master_data_record_answers_where_it_was_with_its_own_error_below(client: TestClient) -> None:
    document = {
        "subscriber_accounts": [{"id": "zoe", "currency": "EUR"}],
        "contracts": [{"id": "alice-contract", "subscriber_account_id": "zoe", "valid_from": AT.isoformat()}],
    }

    error = error_of(client.post("/v1/master-data", json=document), 409)

    assert (error["category"], error["code"]) == ("ALREADY_EXISTS", "already_exists")
    assert "contracts[0] (alice-contract) was refused" in error["message"]
    assert error["causes"] == [
        {"category": "ALREADY_EXISTS", "reason": None, "code": "already_exists", "message": "contract 'alice-contract' already exists"}
    ]
    assert error_of(client.get("/v1/subscriber-accounts/zoe"), 404)["code"] == "not_found"


def test_an_error_without_a_cause_has_an_empty_stack(client: TestClient) -> None:
    assert error_of(client.get("/v1/contracts/nobody"), 404)["causes"] == []


# ---- metrics ---------------------------------------------------------------------------------------------


def test_every_operation_is_counted_from_zero(client: TestClient) -> None:
    samples = _samples(client)

    missing = [
        route.name
        for route in api_routes()
        if ("kopek_requests_total", (("operation", route.name), ("outcome", "succeeded"))) not in samples
    ]
    assert missing == []


def test_session_steps_are_counted_with_their_latency_and_refusals_by_category_and_reason(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=_start("s1", idempotency_key="k1")), 201)
    ok(client.post("/v1/sessions", json=_start("s1", idempotency_key="k1")), 200)
    ok(client.post("/v1/sessions/s1/updates", json={"used_quantity": "60"}))
    ok(client.post("/v1/sessions/s1/stop", json={"used_quantity": "0"}))
    error_of(client.post("/v1/sessions/s1/cancel", json={}), 409)
    error_of(client.post("/v1/sessions", json=_start("s2", user_id="nobody")), 404)

    samples = _samples(client)

    assert _value(samples, "kopek_requests_total", operation="start_session", outcome="succeeded") == 1
    assert _value(samples, "kopek_requests_total", operation="start_session", outcome="replayed") == 1
    assert _value(samples, "kopek_requests_total", operation="start_session", outcome="PREREQUISITE_MISSING") == 1
    assert _value(samples, "kopek_requests_total", operation="update_session", outcome="succeeded") == 1
    assert _value(samples, "kopek_requests_total", operation="stop_session", outcome="succeeded") == 1
    assert _value(samples, "kopek_requests_total", operation="cancel_session", outcome="ILLEGAL_STATE") == 1
    assert _value(samples, "kopek_request_duration_seconds_count", operation="start_session") == 3
    refused = {"operation": "start_session", "category": "PREREQUISITE_MISSING", "reason": "NOT_AUTHORIZED", "code": "access_not_found"}
    assert _value(samples, "kopek_refusals_total", **refused) == 1
    assert (
        _value(
            samples, "kopek_refusals_total", operation="cancel_session", category="ILLEGAL_STATE", reason="", code="session_already_ended"
        )
        == 1
    )


def test_reservations_held_are_gauges_of_the_database(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=_start("s1")), 201)
    ok(client.post("/v1/sessions", json=_start("s2", requested_quantity="60")), 201)

    held = _samples(client)
    ok(client.post("/v1/sessions/s1/cancel", json={}))
    after = _samples(client)

    # 300 s: 60 free and 4 minutes at 0.60; then 60 s, all four minutes of the first left in the balance: 0.60.
    assert (_value(held, "kopek_reservations_held", currency="EUR"), _value(held, "kopek_reservations_held_amount", currency="EUR")) == (
        2,
        3.0,
    )
    assert _value(held, "kopek_live_sessions") == 2
    assert (_value(after, "kopek_reservations_held", currency="EUR"), _value(after, "kopek_live_sessions")) == (1, 1)


def test_the_outbox_depth_and_pending_cdrs_are_gauges_of_the_database(client: TestClient) -> None:
    account = {"id": "carol-prepaid", "kind": "prepaid", "initial_balance": "1.00", "low_balance_threshold": "0.95"}
    contract = {"id": "carol-contract", "subscriber_account_id": "carol", "valid_from": AT.isoformat(), "roles": {"payer": "carol-prepaid"}}
    master_data = {
        "subscriber_accounts": [{"id": "carol", "currency": "EUR", "accounts": [account]}],
        "contracts": [contract | {"items": [{"id": "main", "charge_plan": "mobile"}]}],
        "accesses": [{"service_id": "mobile", "user_id": "carol-msisdn", "contract_id": "carol-contract", "valid_from": AT.isoformat()}],
    }
    ok(client.post("/v1/master-data", json=master_data), 201)
    sms = {
        "item_class": "sms",
        "consumption_date": AT.isoformat(),
        "service_id": "mobile",
        "user_id": "carol-msisdn",
        "properties": {"destination": "33123"},
    }
    ok(client.post("/v1/charging", json={"item": sms}), 201)  # 1.00 - 0.10 crosses 0.95: low_balance
    cdr = {
        "id": "c1",
        "item_class": "sms",
        "consumption_date": AT.isoformat(),
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "properties": {"destination": "33123"},
    }
    ok(client.post("/v1/cdrs", json={"cdrs": [cdr]}), 201)

    samples = _samples(client)

    notifications = ok(client.get("/v1/notifications"))["notifications"]
    assert _value(samples, "kopek_notifications_outbox_depth") == len(notifications) > 0
    assert _value(samples, "kopek_pending_cdrs") == 1


def test_a_rating_job_counts_its_cdrs_by_outcome_and_by_path(client: TestClient) -> None:
    cdrs = [
        {
            "id": f"c{n}",
            "item_class": "sms",
            "consumption_date": AT.isoformat(),
            "service_id": "mobile",
            "user_id": "alice-msisdn",
            "properties": {"destination": "33123"},
        }
        for n in range(3)
    ]
    ok(client.post("/v1/cdrs", json={"cdrs": cdrs}), 201)
    job = ok(client.post("/v1/rating-jobs", json={}), 201)
    _wait_for(client, job["id"])

    samples = _samples(client)

    assert _value(samples, "kopek_rated_cdrs_total", outcome="charged") == 3
    by_path = _value(samples, "kopek_rated_cdrs_by_path_total", path="vectorized") + _value(
        samples, "kopek_rated_cdrs_by_path_total", path="row"
    )
    assert by_path == 3
    assert _value(samples, "kopek_rating_jobs_ended_total", state="succeeded") == 1
    assert _value(samples, "kopek_rating_jobs", state="succeeded") == 1


def _wait_for(client: TestClient, job_id: str) -> None:
    client.app.state.kopek.job_threads.join()  # type: ignore[attr-defined]
    assert ok(client.get(f"/v1/rating-jobs/{job_id}"))["state"] == "succeeded"


SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _series_names(client: TestClient) -> set[str]:
    """Every series name /metrics declares, whether or not it has a sample yet (a gauge of an empty database has none)."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {family.name + suffix for family in families for suffix in SERIES_SUFFIXES.get(family.type, ("",))}


def test_the_grafana_dashboard_reads_only_metrics_that_exist(client: TestClient) -> None:
    exposed = _series_names(client)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]

    used = {name for expression in expressions for name in re.findall(r"\bkopek_[a-z_]+\b", expression)}
    operations = {
        name for expression in expressions for selector in re.findall(r'operation=~"([^"]+)"', expression) for name in selector.split("|")
    }

    assert len(expressions) >= 15
    assert sorted(used - exposed) == []
    assert sorted(operations - {route.name for route in api_routes()}) == []


# ---- logs --------------------------------------------------------------------------------------------------


def test_each_request_logs_one_line_with_its_id_route_outcome_and_duration(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kopek.requests"):
        client.get("/v1/accounts/nobody", headers={"X-Request-Id": "trace-2"})

    record = next(record for record in caplog.records if record.name == "kopek.requests")
    line = json.loads(JsonFormatter().format(record))
    assert {key: line[key] for key in ("level", "logger", "request_id", "method", "route", "operation", "status", "outcome")} == {
        "level": "info",
        "logger": "kopek.requests",
        "request_id": "trace-2",
        "method": "GET",
        "route": "/v1/accounts/{account_id}",
        "operation": "read_account",
        "status": 404,
        "outcome": "DOES_NOT_EXIST",
    }
    assert line["duration_ms"] >= 0


# ---- the API pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "script"), [("/v1/docs", "swagger-ui-bundle.js"), ("/v1/redoc", "redoc.standalone.js")])
def test_the_api_pages_load_their_scripts_from_kopek_not_from_a_cdn(engine: Engine, page: str, script: str) -> None:
    with TestClient(create_app(engine)) as client:
        html = client.get(page)
        asset = client.get(f"/v1/docs/assets/{script}")

    assert html.status_code == 200 and f'src="/v1/docs/assets/{script}"' in html.text
    assert "cdn" not in html.text.lower() and "https://" not in html.text
    assert asset.status_code == 200 and len(asset.content) > 100_000
