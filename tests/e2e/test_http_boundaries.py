"""What the HTTP API answers at the edges of its input: never a 500, always the one error shape.

Integers beyond the range of the stored ids, NUL characters in any text, loose types,
empty bodies: each is refused at the boundary with a 4xx, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from annotated_types import Le
from fastapi.testclient import TestClient
from pydantic import BaseModel, Strict
from pydantic.fields import FieldInfo

from kopek import Engine, limits
from kopek.api.app import api_routes
from tests.e2e.http_world import charge_body, error_of, ok
from tests.worlds import AT

TOO_LARGE = "99999999999999999999"
PAST_POSTGRES_INTEGER = str(limits.STORED_ID_MAX + 1)


@pytest.mark.parametrize("value", [pytest.param(TOO_LARGE, id="huge"), pytest.param(PAST_POSTGRES_INTEGER, id="past-int4")])
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/item-files/{value}", id="item-file-id"),
        pytest.param("/v1/item-files?after_id={value}", id="item-files-after-id"),
        pytest.param("/v1/notifications?after_id={value}", id="notifications-after-id"),
        pytest.param("/v1/accounts/alice-prepaid/operations?after_id={value}", id="operations-after-id"),
    ],
)
def test_an_integer_beyond_the_stored_ids_is_invalid_not_a_fault(client: TestClient, path: str, value: str) -> None:
    error = error_of(client.get(path.format(value=value)), 422)

    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")


def test_the_largest_stored_id_is_still_a_valid_cursor(client: TestClient) -> None:
    assert ok(client.get(f"/v1/notifications?after_id={limits.STORED_ID_MAX}"))["notifications"] == []
    assert error_of(client.get(f"/v1/item-files/{limits.STORED_ID_MAX}"), 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        pytest.param("GET", "/v1/accounts/alice%00prepaid", ["path"], id="path-id"),
        pytest.param("GET", "/v1/notifications?contract_id=alice%00contract", ["query", "contract_id"], id="query-filter"),
        pytest.param("GET", "/v1/accesses?service_id=mobile&user_id=a%00", ["query", "user_id"], id="query-id"),
    ],
)
def test_a_nul_character_in_an_id_or_filter_is_invalid(client: TestClient, method: str, path: str, location: list[str]) -> None:
    error = error_of(client.request(method, path), 422)

    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")
    assert error["details"][0]["location"] == location


def test_a_nul_character_in_the_idempotency_key_header_is_invalid_and_charges_nothing(client: TestClient) -> None:
    response = client.post("/v1/charging", json=charge_body(), headers={"Idempotency-Key": "retry\x00one"})

    error = error_of(response, 422)
    assert error["details"][0]["location"] == ["header", "idempotency-key"]
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "10.00"


def test_a_nul_character_in_a_body_text_is_invalid_and_named(client: TestClient) -> None:
    body = charge_body(idempotency_key="key\x00")
    error = error_of(client.post("/v1/charging", json=body), 422)

    assert error["details"][0]["location"] == ["body", "idempotency_key"]
    nested = charge_body(destination="33\x00123")
    assert error_of(client.post("/v1/charging", json=nested), 422)["details"][0]["location"] == [
        "body",
        "item",
        "properties",
        "destination",
    ]


def test_an_escaped_backslash_before_u0000_is_not_a_nul_character(client: TestClient) -> None:
    body = charge_body(idempotency_key="a\\u0000b")  # the text a, backslash, u0000, b: no NUL in it

    assert client.post("/v1/charging", json=body).status_code == 201


def test_an_opening_balance_past_the_cents_is_invalid_naming_the_field(client: TestClient) -> None:
    account = {"id": "zoe-prepaid", "kind": "prepaid", "initial_balance": "10.001"}
    error = error_of(client.post("/v1/subscriber-accounts", json={"id": "zoe", "currency": "EUR", "accounts": [account]}), 422)

    assert (error["code"], error["details"][0]["location"]) == (
        "amount_has_more_places_than_its_currency",
        ["accounts", 0, "initial_balance"],
    )
    assert error_of(client.get("/v1/subscriber-accounts/zoe"), 404)["code"] == "not_found"


def test_an_adjustment_past_the_cents_is_invalid(client: TestClient) -> None:
    body = '{"amount": 0.1000000000000000055511151231257827}'
    response = client.post("/v1/accounts/alice-prepaid/adjustments", content=body, headers={"content-type": "application/json"})

    assert error_of(response, 422)["code"] == "amount_has_more_places_than_its_currency"
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "10.00"


@pytest.mark.parametrize("content", [pytest.param(b"", id="empty"), pytest.param(b"\n \n", id="blank-lines")])
def test_a_restore_without_any_contract_state_is_invalid(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/contract-states:restore?mode=ALL_OR_NOTHING", content=content)

    error = error_of(response, 422)
    assert (error["category"], error["code"]) == ("INVALID", "contract_state_invalid")


def _start(session_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "consumption_date": AT.isoformat(),
        "ttl_ms": 60_000,
        "quantity_property": "duration",
        "requested_quantity": "60",
        "item": {"item_class": "voice_call", "properties": {"destination": "33123"}},
        **extra,
    }


def test_a_replayed_session_start_answers_200_like_a_replayed_charge(client: TestClient) -> None:
    first = client.post("/v1/sessions", json=_start("call-1", idempotency_key="start-1"))
    retry = client.post("/v1/sessions", json=_start("call-1", idempotency_key="start-1"))

    assert (first.status_code, first.json()["replayed"]) == (201, False)
    assert (retry.status_code, retry.json()["replayed"]) == (200, True)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/cdrs", {"cdrs": [], "strict": 0}, id="cdrs-strict"),
        pytest.param("/v1/fees:run", {"until": AT.isoformat(), "notifications": 0}, id="fee-run-notifications"),
        pytest.param("/v1/charging", charge_body(options={"account_info": 1}), id="charge-option"),
        pytest.param("/v1/migration:begin", {"all": "true"}, id="migration-all"),
    ],
)
def test_a_boolean_must_be_a_json_boolean(client: TestClient, path: str, body: dict[str, Any]) -> None:
    error = error_of(client.post(path, json=body), 422)

    assert (error["category"], error["code"]) == ("INVALID", "request_invalid")
    assert error["details"][0]["code"] == "bool_type"


DATA_CATALOG = {
    "item_classes": [
        {"name": "data_session", "quantity": "volume", "properties": [{"name": "volume", "type": "integer", "unit": "bytes"}]}
    ],
    "charge_plans": [
        {
            "name": "data",
            "currency": "EUR",
            "charges": [
                {
                    "name": "data",
                    "item_class": "data_session",
                    "account_role": "payer",
                    "price": {"type": "rate", "amount": "0.01", "unit": "megabytes", "increment": "1.0"},
                }
            ],
        }
    ],
}


def test_a_data_grant_is_written_as_canonical_decimal_text(bare_client: TestClient, engine: Engine) -> None:
    ok(bare_client.post("/v1/catalog", content=json.dumps(DATA_CATALOG), headers={"content-type": "application/json"}), 201)
    ok(
        bare_client.post(
            "/v1/master-data",
            json={
                "subscriber_accounts": [
                    {"id": "dana", "currency": "EUR", "accounts": [{"id": "dana-prepaid", "kind": "prepaid", "initial_balance": "5.00"}]}
                ],
                "contracts": [
                    {
                        "id": "dana-contract",
                        "subscriber_account_id": "dana",
                        "valid_from": "2026-01-01T00:00:00+00:00",
                        "items": [{"id": "main", "charge_plan": "data"}],
                        "roles": {"payer": "dana-prepaid"},
                    }
                ],
                "accesses": [
                    {
                        "service_id": "mobile",
                        "user_id": "dana-msisdn",
                        "contract_id": "dana-contract",
                        "valid_from": "2026-01-01T00:00:00+00:00",
                    }
                ],
            },
        ),
        201,
    )
    body = _start(
        "data-1", user_id="dana-msisdn", quantity_property="volume", item={"item_class": "data_session"}, requested_quantity="1000000"
    )

    started = ok(bare_client.post("/v1/sessions", json=body), 201)
    updated = ok(bare_client.post("/v1/sessions/data-1/updates", json={"used_quantity": "1000000.0", "requested_quantity": "3000000"}))

    assert (started["granted_quantity"], started["session"]["granted_quantity"]) == ("1000000", "1000000")
    assert (updated["granted_quantity"], updated["session"]["used_quantity"]) == ("3000000", "1000000")
    assert updated["charge"]["charged_items"][0]["quantity"] == "1000000"


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation holds, at any depth of unions, lists and dicts."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def _request_fields() -> Iterator[tuple[str, FieldInfo]]:
    """Every field of every request: parameters and body fields, nested models included."""
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = []
    for route in api_routes():
        dependant = route.dependant
        for parameter in (*dependant.path_params, *dependant.query_params, *dependant.header_params):
            yield f"{route.path} {parameter.name}", parameter.field_info
        for parameter in dependant.body_params:
            pending.extend(_models(parameter.field_info.annotation))
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            yield f"{model.__name__}.{name}", field
            pending.extend(_models(field.annotation))


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or bool in typing.get_args(annotation)


def test_every_boolean_of_a_request_is_strict() -> None:
    loose = [
        name
        for name, field in _request_fields()
        if _is_bool(field.annotation) and not any(isinstance(meta, Strict) for meta in field.metadata)
    ]

    assert loose == []


def test_every_integer_parameter_is_bounded_by_the_stored_ids() -> None:
    unbounded = [
        name
        for name, field in _request_fields()
        if " " in name
        and field.annotation is int
        and not any(isinstance(meta, Le) and meta.le <= limits.STORED_ID_MAX for meta in field.metadata)
    ]

    assert unbounded == []
