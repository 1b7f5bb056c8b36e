"""Every error category comes back through HTTP with its status, in the one error shape,
and a refused charge leaves nothing behind: balances, operations and counters unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kopek import Engine, limits
from tests.e2e.http_world import charge_body, error_of, item_body, ok, persisted
from tests.worlds import START

Setup = Callable[[TestClient, Engine], None]


def _nothing(client: TestClient, engine: Engine) -> None:
    return None


def _patch(path: str, body: dict[str, Any]) -> Setup:
    def setup(client: TestClient, engine: Engine) -> None:
        ok(client.patch(path, json=body))

    return setup


def _charge_with_key(client: TestClient, engine: Engine) -> None:
    ok(client.post("/v1/charging", json=charge_body(seconds="120", idempotency_key="call-1")), 201)


def _carol_in_dollars(client: TestClient, engine: Engine) -> None:
    """carol holds dollars but her contract activates the euro plan."""
    ok(
        client.post(
            "/v1/master-data",
            json={
                "subscriber_accounts": [
                    {"id": "carol", "currency": "USD", "accounts": [{"id": "carol-prepaid", "kind": "prepaid", "initial_balance": "50.00"}]}
                ],
                "contracts": [
                    {
                        "id": "carol-contract",
                        "subscriber_account_id": "carol",
                        "valid_from": START.isoformat(),
                        "items": [{"id": "main", "charge_plan": "mobile"}],
                        "roles": {"payer": "carol-prepaid"},
                    }
                ],
                "accesses": [
                    {"service_id": "mobile", "user_id": "carol-msisdn", "contract_id": "carol-contract", "valid_from": START.isoformat()}
                ],
            },
        ),
        201,
    )


def _drop_counters(client: TestClient, engine: Engine) -> None:
    with engine.database.begin() as connection:
        connection.execute(sa.text("DROP TABLE counters"))


@dataclass(frozen=True)
class Refusal:
    body: dict[str, Any]
    status: int
    category: str
    code: str
    reason: str | None = None
    setup: Setup = _nothing
    holder: str = "alice"
    kind: str = "prepaid"
    readable_counters: bool = True
    headers: dict[str, str] = field(default_factory=dict)


REFUSALS = [
    pytest.param(Refusal(charge_body(seconds="abc"), 422, "INVALID", "property_invalid"), id="invalid-bad-property"),
    pytest.param(Refusal(charge_body(seconds="-5"), 422, "INVALID", "quantity_negative"), id="invalid-negative-quantity"),
    pytest.param(
        Refusal(item_body("fax", {"pages": 3}), 404, "PREREQUISITE_MISSING", "item_class_unknown"),
        id="prerequisite-missing-unknown-item-class",
    ),
    pytest.param(
        Refusal(charge_body("nobody-msisdn"), 404, "PREREQUISITE_MISSING", "access_not_found", "NOT_AUTHORIZED"),
        id="prerequisite-missing-no-access",
    ),
    pytest.param(
        Refusal(
            charge_body(seconds="121", idempotency_key="call-1"),
            409,
            "ALREADY_EXISTS",
            "idempotency_key_reused_with_different_item",
            setup=_charge_with_key,
        ),
        id="already-exists-idempotency-key-reused",
    ),
    pytest.param(
        Refusal(item_body("content", {"units": 3, "pack_size": 0}), 422, "INVALID_CONFIGURATION", "division_by_zero"),
        id="invalid-configuration-division-by-zero",
    ),
    pytest.param(
        Refusal(
            charge_body("carol-msisdn"),
            422,
            "INVALID_CONFIGURATION",
            "currency_mismatch",
            "CANNOT_CHARGE_ACCOUNT",
            setup=_carol_in_dollars,
            holder="carol",
        ),
        id="invalid-configuration-currency-mismatch",
    ),
    pytest.param(
        Refusal(
            charge_body(),
            409,
            "ILLEGAL_STATE",
            "contract_out_of_validity_period",
            "OUT_OF_VALIDITY_PERIOD",
            setup=_patch("/v1/contracts/alice-contract", {"valid_to": "2026-03-01T00:00:00+00:00"}),
        ),
        id="illegal-state-out-of-validity-period",
    ),
    pytest.param(
        Refusal(charge_body(destination="999123"), 409, "ILLEGAL_STATE", "service_not_accessible", "NOT_AUTHORIZED"),
        id="illegal-state-not-authorized",
    ),
    *(
        pytest.param(
            Refusal(
                charge_body(),
                409,
                "ILLEGAL_STATE",
                f"account_{status}",
                f"ACCOUNT_{status.upper()}",
                setup=_patch("/v1/subscriber-accounts/alice", {"status": status}),
            ),
            id=f"illegal-state-account-{status}",
        )
        for status in ("blocked", "locked", "closed")
    ),
    pytest.param(
        Refusal(charge_body(seconds="1200"), 409, "ILLEGAL_STATE", "prepaid_balance_cannot_cover", "CANNOT_CHARGE_ACCOUNT"),
        id="illegal-state-cannot-charge-prepaid",
    ),
    pytest.param(
        Refusal(
            charge_body("bob-msisdn", seconds="10260"),
            409,
            "ILLEGAL_STATE",
            "postpaid_credit_limit_reached",
            "CANNOT_CHARGE_ACCOUNT",
            holder="bob",
            kind="postpaid",
        ),
        id="illegal-state-cannot-charge-postpaid",
    ),
    pytest.param(
        Refusal(
            charge_body(),
            409,
            "ILLEGAL_STATE",
            "contract_locked",
            "RECHARGING",
            setup=_patch("/v1/contracts/alice-contract", {"status": "locked"}),
        ),
        id="illegal-state-contract-locked",
    ),
    pytest.param(
        Refusal(
            charge_body(),
            503,
            "TEMPORARY_ILLEGAL_STATE",
            "contract_migrating",
            setup=_patch("/v1/contracts/alice-contract", {"status": "migrating"}),
            headers={"Retry-After": "30"},
        ),
        id="temporary-illegal-state-migrating",
    ),
    pytest.param(
        Refusal(charge_body(), 500, "ILLEGAL_SYSTEM_STATE", "unexpected_fault", setup=_drop_counters, readable_counters=False),
        id="illegal-system-state-unexpected-fault",
    ),
]


@pytest.fixture
def used(client: TestClient) -> TestClient:
    """The world after alice used half of her free seconds and sent a text (one debit)."""
    ok(client.post("/v1/charging", json=charge_body(seconds="30")), 201)
    ok(client.post("/v1/charging", json=item_body("sms", {"destination": "33123"})), 201)
    return client


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_charge_answers_its_category_and_status_and_changes_nothing(used: TestClient, engine: Engine, refusal: Refusal) -> None:
    refusal.setup(used, engine)
    before = persisted(used, engine, holder=refusal.holder, kind=refusal.kind, counters=refusal.readable_counters)

    response = used.post("/v1/charging", json=refusal.body)

    error = error_of(response, refusal.status)
    assert (error["category"], error["code"], error["reason"]) == (refusal.category, refusal.code, refusal.reason)
    for name, value in refusal.headers.items():
        assert response.headers[name] == value
    assert "notifications" not in error
    assert persisted(used, engine, holder=refusal.holder, kind=refusal.kind, counters=refusal.readable_counters) == before


def test_counters_are_really_used_by_the_world_the_refusals_start_from(used: TestClient, engine: Engine) -> None:
    """The refusal tests would prove little if the refused calls could not have changed anything."""
    state = persisted(used, engine)
    assert [(counter["name"], counter["value"]) for counter in state.counters or []] == [("free_seconds", "30")]
    assert state.balance == "9.90"
    assert [operation["kind"] for operation in state.operations] == ["opening", "debit"]


def test_unexpected_fault_tells_nothing_about_itself(used: TestClient, engine: Engine) -> None:
    _drop_counters(used, engine)

    error = error_of(used.post("/v1/charging", json=charge_body()), 500)

    assert error["message"] == "an unexpected fault occurred; it has been logged"
    assert error["details"] == []


def test_invalid_property_names_its_location(client: TestClient) -> None:
    error = error_of(client.post("/v1/charging", json=charge_body(seconds="abc")), 422)

    assert [detail["location"] for detail in error["details"]] == [["properties", "duration"]]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b'{"item": {"item_class": ', "application/json", id="truncated"),
        pytest.param(b'{"item": {"item_class": "voice_call", "properties": {"duration": NaN}}}', "application/json", id="nan"),
        pytest.param(b'{"item": "\xff\xfe"}', "application/json", id="not-utf-8"),
        pytest.param(json.dumps(charge_body()).encode(), "text/plain", id="not-sent-as-json"),
    ],
)
def test_malformed_json_is_invalid_with_400(client: TestClient, engine: Engine, content: bytes, content_type: str) -> None:
    before = persisted(client, engine)

    error = error_of(client.post("/v1/charging", content=content, headers={"content-type": content_type}), 400)

    assert (error["category"], error["code"]) == ("INVALID", "request_malformed")
    assert persisted(client, engine) == before


def test_body_over_the_bound_is_invalid_with_400(client: TestClient, engine: Engine) -> None:
    before = persisted(client, engine)
    body = charge_body(sender_job_id="x" * limits.REQUEST_BODY_BYTES_MAX)

    error = error_of(client.post("/v1/charging", json=body), 400)

    assert (error["category"], error["code"]) == ("INVALID", "request_too_large")
    assert persisted(client, engine) == before


def test_body_over_the_bound_is_refused_while_reading_without_content_length(client: TestClient) -> None:
    """A streamed body declares no length: the bound is enforced on the bytes that arrive."""
    chunk = b" " * 65_536
    chunks = limits.REQUEST_BODY_BYTES_MAX // len(chunk) + 2

    response = client.post("/v1/subscriber-accounts", content=iter([chunk] * chunks), headers={"content-type": "application/json"})

    assert "content-length" not in response.request.headers
    assert error_of(response, 400)["code"] == "request_too_large"


def test_body_at_the_bound_is_read(client: TestClient) -> None:
    padding = " " * (limits.REQUEST_BODY_BYTES_MAX - 200)
    content = ('{"id": "dora", "currency": "EUR"' + padding + "}").encode()
    assert len(content) <= limits.REQUEST_BODY_BYTES_MAX

    assert ok(client.post("/v1/subscriber-accounts", content=content, headers={"content-type": "application/json"}), 201)["id"] == "dora"


def test_request_validation_is_invalid_with_422_and_locations(client: TestClient) -> None:
    body = charge_body()
    body["item"]["consumption_date"] = "2026-06-01T10:00:00"
    del body["item"]["service_id"]

    error = error_of(client.post("/v1/charging", json=body), 422)

    assert (error["category"], error["code"], error["reason"]) == ("INVALID", "request_invalid", None)
    assert sorted(detail["location"] for detail in error["details"]) == [
        ["body", "item", "consumption_date"],
        ["body", "item", "service_id"],
    ]


def test_query_validation_is_invalid_with_422(client: TestClient) -> None:
    error = error_of(client.get("/v1/accounts/alice-prepaid/operations", params={"limit": 0}), 422)

    assert error["code"] == "request_invalid"
    assert error["details"][0]["location"] == ["query", "limit"]


def test_idempotency_key_in_header_and_body_must_agree(client: TestClient, engine: Engine) -> None:
    before = persisted(client, engine)

    response = client.post("/v1/charging", json=charge_body(idempotency_key="one"), headers={"Idempotency-Key": "two"})

    error = error_of(response, 422)
    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")
    assert persisted(client, engine) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/accounts/ghost", id="account"),
        pytest.param("GET", "/v1/accounts/ghost/operations", id="account-operations"),
        pytest.param("GET", "/v1/subscriber-accounts/ghost", id="subscriber-account"),
        pytest.param("GET", "/v1/contracts/ghost", id="contract"),
        pytest.param("GET", "/v1/no-such-resource", id="unknown-route"),
    ],
)
def test_missing_target_does_not_exist_with_404(client: TestClient, method: str, path: str) -> None:
    error = error_of(client.request(method, path), 404)

    assert (error["category"], error["code"]) == ("DOES_NOT_EXIST", "not_found")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/contracts/ghost", {"status": "active"}, id="contract"),
        pytest.param("/v1/subscriber-accounts/ghost", {"status": "active"}, id="subscriber-account"),
    ],
)
def test_updating_a_missing_target_does_not_exist_with_404(client: TestClient, path: str, body: dict[str, Any]) -> None:
    assert error_of(client.patch(path, json=body), 404)["category"] == "DOES_NOT_EXIST"


def test_adjusting_a_missing_account_does_not_exist_with_404(client: TestClient) -> None:
    assert error_of(client.post("/v1/accounts/ghost/adjustments", json={"amount": "1.00"}), 404)["category"] == "DOES_NOT_EXIST"


def test_duplicate_subscriber_account_already_exists_with_409(client: TestClient) -> None:
    error = error_of(client.post("/v1/subscriber-accounts", json={"id": "alice", "currency": "EUR"}), 409)

    assert (error["category"], error["code"]) == ("ALREADY_EXISTS", "already_exists")


def test_bulk_master_data_with_one_duplicate_creates_nothing(client: TestClient) -> None:
    document = {"subscriber_accounts": [{"id": "erin", "currency": "EUR"}, {"id": "alice", "currency": "EUR"}]}

    assert error_of(client.post("/v1/master-data", json=document), 409)["category"] == "ALREADY_EXISTS"

    assert error_of(client.get("/v1/subscriber-accounts/erin"), 404)["category"] == "DOES_NOT_EXIST"


def test_bulk_master_data_over_the_record_bound_is_invalid_with_422(client: TestClient) -> None:
    # Past a bound is a request to correct (422), as docs/errors.md says; 400 is for unreadable bodies.
    records = [{"id": f"s{index}", "currency": "EUR"} for index in range(limits.BULK_RECORDS_PER_REQUEST_MAX + 1)]
    document = {"subscriber_accounts": records}

    error = error_of(client.post("/v1/master-data", json=document), 422)

    assert (error["category"], error["code"]) == ("INVALID", "limit_exceeded")


def test_invalid_catalog_is_invalid_with_422_listing_faults(client: TestClient) -> None:
    document = {"item_classes": [{"name": "sms", "properties": []}], "charge_plans": [{"name": "p", "currency": "EUR", "charges": "none"}]}

    error = error_of(client.post("/v1/catalog", json=document), 422)

    assert (error["category"], error["code"]) == ("INVALID", "catalog_invalid")
    assert error["details"]


def test_no_catalog_loaded_is_prerequisite_missing_with_404(bare_client: TestClient) -> None:
    error = error_of(bare_client.get("/v1/catalog"), 404)

    assert (error["category"], error["code"]) == ("PREREQUISITE_MISSING", "catalog_not_loaded")


def test_wrong_method_answers_405_in_the_error_shape(client: TestClient) -> None:
    response = client.delete("/v1/catalog")

    error = error_of(response, 405)
    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")
    assert "GET" in response.headers["allow"]
