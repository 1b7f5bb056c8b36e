"""Offline charging through HTTP: result sections, idempotent retries, read-backs, exact
decimals, notifications on error, health and metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kopek import Engine
from kopek.api.app import create_app
from tests.e2e.http_world import charge_body, error_of, item_body, ok, persisted

SECTIONS = [
    "charging_process_info",
    "contract_info",
    "chargeable_item_info",
    "charged_items",
    "account_operations",
    "account_info",
    "notifications",
]


def _options(*sections: str) -> dict[str, bool]:
    return {section: section in sections for section in SECTIONS}


@pytest.mark.parametrize(
    "sections",
    [
        pytest.param((), id="none"),
        *(pytest.param((section,), id=section) for section in SECTIONS),
        pytest.param(tuple(SECTIONS), id="all"),
    ],
)
def test_result_holds_exactly_the_sections_asked_for(client: TestClient, sections: tuple[str, ...]) -> None:
    result = ok(client.post("/v1/charging", json=charge_body(options=_options(*sections))), 201)

    assert set(result) == {"operation_id", *sections}


def test_default_result_holds_the_charged_items_only(client: TestClient) -> None:
    result = ok(client.post("/v1/charging", json=charge_body()), 201)

    assert set(result) == {"operation_id", "charged_items"}
    assert [(item["charge"], item["amount"], item["currency"], item["account_id"]) for item in result["charged_items"]] == [
        ("voice", "0.60", "EUR", "alice-prepaid")
    ]


def test_sections_hold_what_the_charge_did(client: TestClient) -> None:
    body = charge_body(options=_options(*SECTIONS), sender_job_id="job-7", idempotency_key="call-1")

    result = ok(client.post("/v1/charging", json=body), 201)

    process = result["charging_process_info"]
    assert (process["operation_id"], process["sender_job_id"], process["idempotency_key"], process["replayed"]) == (
        result["operation_id"],
        "job-7",
        "call-1",
        False,
    )
    assert (result["contract_info"]["contract_id"], result["contract_info"]["valid_to"]) == ("alice-contract", None)
    assert result["chargeable_item_info"]["properties"] == {"duration": "120", "destination": "33123", "roaming": False}
    assert result["account_operations"] == [
        {"account_id": "alice-prepaid", "kind": "debit", "amount": "-0.60", "balance_after": "9.40", "currency": "EUR"}
    ]
    assert [(account["account_id"], account["balance"], account["credit_limit"]) for account in result["account_info"]] == [
        ("alice-prepaid", "9.40", None)
    ]
    assert [note["kind"] for note in result["notifications"]]


def test_idempotent_retry_answers_the_first_result_with_200_and_charges_nothing_more(client: TestClient, engine: Engine) -> None:
    body = charge_body(idempotency_key="call-1", options=_options("charging_process_info", "charged_items", "account_info"))
    first = ok(client.post("/v1/charging", json=body), 201)
    after_first = persisted(client, engine)

    retry = ok(client.post("/v1/charging", json=body), 200)

    assert retry["charging_process_info"]["replayed"] is True
    assert {**retry, "charging_process_info": {**retry["charging_process_info"], "replayed": False}} == first
    assert persisted(client, engine) == after_first
    assert after_first.balance == "9.40"


def test_retry_with_the_key_in_the_header_is_the_same_charge(client: TestClient, engine: Engine) -> None:
    first = ok(client.post("/v1/charging", json=charge_body(), headers={"Idempotency-Key": "call-1"}), 201)
    after_first = persisted(client, engine)

    retry = ok(client.post("/v1/charging", json=charge_body(idempotency_key="call-1"), headers={"Idempotency-Key": "call-1"}), 200)

    assert retry == first
    assert persisted(client, engine) == after_first


def test_retry_answers_the_sections_it_asks_for(client: TestClient) -> None:
    first = ok(client.post("/v1/charging", json=charge_body(idempotency_key="call-1")), 201)

    retry = ok(client.post("/v1/charging", json=charge_body(idempotency_key="call-1", options=_options("account_info"))), 200)

    assert set(retry) == {"operation_id", "account_info"}
    assert retry["operation_id"] == first["operation_id"]
    assert retry["account_info"][0]["balance"] == "9.40"


def test_a_json_number_and_its_text_are_the_same_item(client: TestClient, engine: Engine) -> None:
    as_text = charge_body(seconds="90.5", idempotency_key="call-1")
    as_number = json.dumps(as_text).replace('"90.5"', "90.5").encode()
    first = ok(client.post("/v1/charging", json=as_text), 201)

    retry = ok(client.post("/v1/charging", content=as_number, headers={"content-type": "application/json"}), 200)

    assert retry == first


def test_json_numbers_are_read_exactly_never_through_a_float(client: TestClient) -> None:
    digits = "60.000000000000000000001"
    body = json.dumps(charge_body(seconds="DURATION", options=_options("charged_items", "chargeable_item_info")))
    content = body.replace('"DURATION"', digits).encode()

    result = ok(client.post("/v1/charging", content=content, headers={"content-type": "application/json"}), 201)

    assert result["chargeable_item_info"]["properties"]["duration"] == digits
    assert result["charged_items"][0]["quantity"] == digits


def test_exponent_numbers_are_read_exactly(client: TestClient) -> None:
    content = json.dumps(charge_body(seconds="DURATION")).replace('"DURATION"', "1.2e2").encode()

    result = ok(client.post("/v1/charging", content=content, headers={"content-type": "application/json"}), 201)

    assert result["charged_items"][0]["amount"] == "0.60"


def test_amounts_are_json_strings(client: TestClient) -> None:
    response = client.post("/v1/charging", json=charge_body(options=_options("charged_items", "account_operations", "account_info")))

    assert '"amount":"0.60"' in response.text
    assert '"balance":"9.40"' in response.text
    result = ok(response, 201)
    for record in (*result["charged_items"], *result["account_operations"], *result["account_info"]):
        assert all(isinstance(record[name], str) for name in ("amount", "balance", "balance_after", "quantity", "floor") if name in record)


def test_balances_and_operations_read_back(client: TestClient) -> None:
    ok(client.post("/v1/charging", json=charge_body()), 201)
    ok(client.post("/v1/charging", json=item_body("sms", {"destination": "44700"})), 201)
    ok(client.post("/v1/charging", json=charge_body("bob-msisdn", seconds="180")), 201)

    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "9.30"
    assert ok(client.get("/v1/accounts/bob-postpaid"))["balance"] == "1.20"
    operations = ok(client.get("/v1/accounts/alice-prepaid/operations"))
    assert [(operation["kind"], operation["amount"], operation["balance_after"]) for operation in operations["operations"]] == [
        ("opening", "10.00", "10.00"),
        ("debit", "-0.60", "9.40"),
        ("debit", "-0.10", "9.30"),
    ]
    assert operations["next_after_id"] is None
    assert ok(client.get("/v1/subscriber-accounts/alice"))["accounts"][0]["balance"] == "9.30"
    assert ok(client.get("/v1/contracts/alice-contract"))["counters"] == [
        {
            "scope": "contract_item",
            "item_id": "main",
            "name": "free_seconds",
            "unit": "seconds",
            "value": "0",
            "period_start": None,
            "expires_at": None,
        }
    ]


def test_operations_are_read_a_page_at_a_time(client: TestClient) -> None:
    for seconds in ("120", "60", "60"):
        ok(client.post("/v1/charging", json=charge_body(seconds=seconds)), 201)

    first = ok(client.get("/v1/accounts/alice-prepaid/operations", params={"limit": 2}))
    second = ok(client.get("/v1/accounts/alice-prepaid/operations", params={"limit": 2, "after_id": first["next_after_id"]}))
    last = ok(client.get("/v1/accounts/alice-prepaid/operations", params={"limit": 1, "after_id": first["next_after_id"]}))

    assert [operation["balance_after"] for operation in first["operations"] + second["operations"]] == ["10.00", "9.40", "8.80", "8.20"]
    assert second["next_after_id"] is None
    assert last["next_after_id"] == second["operations"][0]["id"]


def test_adjustment_credits_the_balance(client: TestClient) -> None:
    account = ok(client.post("/v1/accounts/alice-prepaid/adjustments", json={"amount": "5.05", "reason": "goodwill"}), 201)

    assert account["balance"] == "15.05"
    assert ok(client.get("/v1/accounts/alice-prepaid/operations"))["operations"][-1]["kind"] == "credit"


def test_notifications_on_error_adds_the_refusals_notifications(client: TestClient) -> None:
    body = charge_body(destination="999123", options={"notifications_on_error": True})

    error = error_of(client.post("/v1/charging", json=body), 409)

    assert (error["category"], error["reason"]) == ("ILLEGAL_STATE", "NOT_AUTHORIZED")
    assert ("no_access", "premium numbers are barred") in [(note["kind"], note["message"]) for note in error["notifications"]]


def test_notifications_on_error_is_an_empty_list_when_the_refusal_raised_none(client: TestClient) -> None:
    ok(client.patch("/v1/subscriber-accounts/alice", json={"status": "blocked"}))

    error = error_of(client.post("/v1/charging", json=charge_body(options={"notifications_on_error": True})), 409)

    assert error["notifications"] == []


def test_refusal_without_notifications_on_error_holds_no_notifications(client: TestClient) -> None:
    error = error_of(client.post("/v1/charging", json=charge_body(destination="999123")), 409)

    assert "notifications" not in error


def test_item_properties_take_every_json_type(client: TestClient) -> None:
    body = charge_body(options=_options("chargeable_item_info"))
    body["item"]["properties"] = {"duration": 120, "destination": "44700", "roaming": True}

    result = ok(client.post("/v1/charging", json=body), 201)

    assert result["chargeable_item_info"]["properties"] == {"duration": "120", "destination": "44700", "roaming": True}


def test_the_result_is_the_json_text_of_its_sections(client: TestClient) -> None:
    """The answer's bytes are the compact JSON of the result's sections, as ``json.dumps`` writes them (text kept as is,
    amounts as decimal strings), and nothing else."""
    body = charge_body(options=_options(*SECTIONS), idempotency_key="call-\u00e9-\u6f22-1", sender_job_id='job \u00fc " \\ \t')

    response = client.post("/v1/charging", json=body)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.content)
    assert set(document) == {"operation_id", *SECTIONS}
    assert response.content == json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def test_consumption_date_offset_is_kept(client: TestClient) -> None:
    body = charge_body(options=_options("chargeable_item_info"))
    body["item"]["consumption_date"] = "2026-06-01T12:00:00+02:00"

    result = ok(client.post("/v1/charging", json=body), 201)

    assert result["chargeable_item_info"]["consumption_date"] == "2026-06-01T12:00:00+02:00"


def test_healthz_answers_ok_when_the_database_answers(client: TestClient) -> None:
    assert ok(client.get("/healthz")) == {"status": "ok"}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite:///{tmp}/no-such-folder/kopek.db", id="sqlite"),
        pytest.param("postgresql://postgres@127.0.0.1:1/test", id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_healthz_answers_503_when_the_database_does_not(tmp_path: Any, url: str) -> None:
    with Engine(url.format(tmp=tmp_path), create_schema=False) as engine, TestClient(create_app(engine)) as client:
        response = client.get("/healthz")

    error = error_of(response, 503)
    assert error["category"] == "TEMPORARY_ILLEGAL_STATE"
    assert int(response.headers["Retry-After"]) > 0


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_charges_by_outcome(client: TestClient, engine: Engine) -> None:
    ok(client.post("/v1/charging", json=charge_body(idempotency_key="call-1")), 201)
    ok(client.post("/v1/charging", json=charge_body(idempotency_key="call-1")), 200)
    ok(client.post("/v1/charging", json=charge_body(seconds="60")), 201)
    error_of(client.post("/v1/charging", json=charge_body(destination="999123")), 409)
    error_of(client.post("/v1/charging", json=charge_body(seconds="abc")), 422)

    samples = _samples(client)

    def charges(outcome: str) -> float:
        return samples[("kopek_charges_total", (("outcome", outcome),))]

    assert [charges(outcome) for outcome in ("charged", "replayed", "ILLEGAL_STATE", "INVALID", "ILLEGAL_SYSTEM_STATE")] == [2, 1, 1, 1, 0]
    assert samples[("kopek_charge_duration_seconds_count", ())] == 5
    with TestClient(create_app(engine)) as other:
        assert _samples(other)[("kopek_charges_total", (("outcome", "charged"),))] == 0
