"""Fees and refills over HTTP: ``POST /v1/fees:run``, ``GET /v1/contracts/{id}/activations``, ``POST /v1/refills``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from tests.fee_world import balance, build

REFILL = {"refill_id": "r-1", "contract_id": "ann-contract", "refill_plan": "topup", "amount": "20.00"}


@pytest.fixture
def fee_client(engine: Engine, bare_client: TestClient) -> TestClient:
    build(engine, "monthly", "setup", balance="100.00")
    return bare_client


def test_a_fee_run_charges_the_due_fees_and_reports_them(fee_client: TestClient, engine: Engine) -> None:
    response = fee_client.post("/v1/fees:run", json={"until": "2026-03-01T00:00:00Z"})

    assert response.status_code == 200
    report: dict[str, Any] = response.json()
    assert (report["fees_applied"], report["contracts_charged"], report["failed"]) == (4, 1, 0)
    applied = [(fee["contract_item_id"], fee["fee"], fee["amount"]) for fee in report["contracts"][0]["applied"]]
    assert applied == [
        ("monthly", "subscription", "16.45"),
        ("setup", "activation", "5.00"),
        ("monthly", "subscription", "30.00"),
        ("monthly", "subscription", "30.00"),
    ]
    assert balance(engine) == Decimal("100.00") - Decimal("16.45") - Decimal("5.00") - 2 * Decimal("30.00") == Decimal("18.55")


def test_a_contracts_activations_show_status_and_last_activation_date(fee_client: TestClient) -> None:
    fee_client.post("/v1/fees:run", json={"until": "2026-03-01T00:00:00Z"})

    response = fee_client.get("/v1/contracts/ann-contract/activations")

    assert response.status_code == 200
    assert [(record["id"], record["status"], record["last_activation_date"]) for record in response.json()] == [
        ("monthly", "active", "2026-03-01T00:00:00Z"),
        ("setup", "expired", "2026-01-15T10:00:00Z"),
    ]
    assert fee_client.get("/v1/contracts/nobody/activations").json()["code"] == "not_found"


def test_a_fee_run_needs_an_until_date_with_an_offset_not_in_the_future(fee_client: TestClient) -> None:
    assert fee_client.post("/v1/fees:run", json={"until": "2026-03-01T00:00:00"}).status_code == 422
    future = fee_client.post("/v1/fees:run", json={"until": "2027-01-01T00:00:00Z"})
    assert (future.status_code, future.json()["code"]) == (422, "date_in_the_future")


def test_a_refill_answers_201_then_200_for_its_retry(fee_client: TestClient, engine: Engine) -> None:
    first = fee_client.post("/v1/refills", json=REFILL)
    again = fee_client.post("/v1/refills", json=REFILL)

    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert (body["balance_after"], body["bonus"]["value_after"], body["bonus"]["expires_at"]) == ("120.00", "30", "2026-06-11T12:00:00Z")
    assert [note["kind"] for note in body["notifications"]] == ["refill_applied"]
    assert again.json() == body | {"replayed": True}
    assert balance(engine) == Decimal("120.00")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        pytest.param({"amount": "500"}, 422, "refill_amount_out_of_bounds", id="out-of-bounds"),
        pytest.param({"refill_plan": "dollars"}, 422, "currency_mismatch", id="currency"),
        pytest.param({"amount": 20.5}, 201, None, id="a-json-number-read-exactly"),
        pytest.param({"refill_id": ""}, 422, "request_invalid", id="empty-id"),
    ],
)
def test_refill_requests_are_checked(fee_client: TestClient, change: dict[str, Any], status: int, code: str | None) -> None:
    response = fee_client.post("/v1/refills", json=REFILL | change)

    assert response.status_code == status
    if code is not None:
        assert response.json()["code"] == code
    else:
        assert response.json()["amount"] == "20.5"


def test_the_same_refill_id_with_another_body_conflicts(fee_client: TestClient) -> None:
    fee_client.post("/v1/refills", json=REFILL)

    response = fee_client.post("/v1/refills", json=REFILL | {"amount": "25.00"})

    assert (response.status_code, response.json()["code"]) == (409, "refill_id_reused_with_different_request")


def test_a_refill_for_a_migrating_contract_answers_503_with_retry_after(fee_client: TestClient, engine: Engine) -> None:
    engine.begin_migration(["ann-contract"])

    response = fee_client.post("/v1/refills", json=REFILL)

    assert (response.status_code, response.json()["code"]) == (503, "contract_migrating")
    assert response.headers["Retry-After"] == "30"
