"""Catalog and master data through HTTP: a whole charging world built with requests only."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.http_world import charge_body, ok
from tests.worlds import START, catalog_document


def _build_world_over_http(client: TestClient) -> None:
    assert ok(client.post("/v1/catalog", json=catalog_document()), 201) == {"version": 1}
    ok(client.post("/v1/subscriber-accounts", json={"id": "alice", "currency": "EUR", "name": "Alice"}), 201)
    ok(
        client.post("/v1/subscriber-accounts/alice/accounts", json={"id": "alice-prepaid", "kind": "prepaid", "initial_balance": "10.00"}),
        201,
    )
    contract = {
        "id": "alice-contract",
        "subscriber_account_id": "alice",
        "valid_from": START.isoformat(),
        "items": [{"id": "main", "charge_plan": "mobile"}],
        "roles": {"payer": "alice-prepaid"},
    }
    ok(client.post("/v1/contracts", json=contract), 201)
    ok(
        client.post(
            "/v1/accesses",
            json={"service_id": "mobile", "user_id": "alice-msisdn", "contract_id": "alice-contract", "valid_from": START.isoformat()},
        ),
        201,
    )


def test_a_world_built_over_http_charges(bare_client: TestClient) -> None:
    _build_world_over_http(bare_client)

    result = ok(bare_client.post("/v1/charging", json=charge_body()), 201)

    assert result["charged_items"][0]["amount"] == "0.60"
    holder = ok(bare_client.get("/v1/subscriber-accounts/alice"))
    assert (holder["name"], holder["contract_ids"], holder["accounts"][0]["balance"]) == ("Alice", ["alice-contract"], "9.40")


def test_catalog_reads_back_with_its_version(bare_client: TestClient) -> None:
    ok(bare_client.post("/v1/catalog", json=catalog_document()), 201)
    assert ok(bare_client.post("/v1/catalog", json=catalog_document()), 200) == {"version": 1}  # the same catalog: no new version

    current = ok(bare_client.get("/v1/catalog"))

    assert current["version"] == 1
    assert [item_class["name"] for item_class in current["document"]["item_classes"]] == ["voice_call", "sms", "data_session", "content"]


def test_catalog_numbers_with_a_fraction_are_read_exactly(bare_client: TestClient) -> None:
    document = catalog_document()
    document["charge_plans"][0]["charges"][1]["price"] = {"type": "flat", "amount": "AMOUNT"}
    content = json.dumps(document).replace('"AMOUNT"', "0.100000000000000000000001").encode()

    ok(bare_client.post("/v1/catalog", content=content, headers={"content-type": "application/json"}), 201)

    sms = ok(bare_client.get("/v1/catalog"))["document"]["charge_plans"][0]["charges"][1]
    assert sms["price"]["amount"] == "0.100000000000000000000001"


def test_catalog_schema_is_served(bare_client: TestClient) -> None:
    schema = ok(bare_client.get("/v1/catalog/schema"))

    assert schema["title"] == "kopek catalog"
    assert "item_classes" in schema["properties"]


def test_bulk_master_data_answers_the_counts(bare_client: TestClient) -> None:
    ok(bare_client.post("/v1/catalog", json=catalog_document()), 201)
    document: dict[str, Any] = {
        "subscriber_accounts": [{"id": "erin", "currency": "EUR", "accounts": [{"id": "erin-postpaid", "kind": "postpaid"}]}],
        "contracts": [
            {"id": "erin-contract", "subscriber_account_id": "erin", "valid_from": START.isoformat(), "roles": {"payer": "erin-postpaid"}}
        ],
        "accesses": [{"service_id": "mobile", "user_id": "erin-msisdn", "contract_id": "erin-contract", "valid_from": START.isoformat()}],
    }

    assert ok(bare_client.post("/v1/master-data", json=document), 201) == {"subscriber_accounts": 1, "contracts": 1, "accesses": 1}
    assert [
        access["contract_id"]
        for access in ok(bare_client.get("/v1/accesses", params={"service_id": "mobile", "user_id": "erin-msisdn"}))["accesses"]
    ] == ["erin-contract"]


def test_contract_update_changes_only_what_it_names(client: TestClient) -> None:
    ended = ok(client.patch("/v1/contracts/alice-contract", json={"valid_to": "2026-12-31T00:00:00+00:00"}))
    assert (ended["valid_to"], ended["status"], [item["id"] for item in ended["items"]]) == ("2026-12-31T00:00:00Z", "active", ["main"])

    reopened = ok(client.patch("/v1/contracts/alice-contract", json={"valid_to": None}))

    assert reopened["valid_to"] is None
    assert reopened["roles"] == {"payer": "alice-prepaid"}


def test_subscriber_account_update_changes_its_status(client: TestClient) -> None:
    updated = ok(client.patch("/v1/subscriber-accounts/alice", json={"status": "blocked"}))

    assert (updated["status"], updated["currency"]) == ("blocked", "EUR")
