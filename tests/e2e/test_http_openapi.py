"""The OpenAPI document is generated from the code, complete and stable."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.api.app import create_app

ROUTES = {
    ("POST", "/v1/catalog"),
    ("GET", "/v1/catalog"),
    ("GET", "/v1/catalog/schema"),
    ("GET", "/v1/catalog/versions"),
    ("GET", "/v1/catalog/versions/{version}"),
    ("GET", "/v1/catalog/diff"),
    ("GET", "/v1/subscriber-accounts"),
    ("GET", "/v1/contracts"),
    ("GET", "/v1/cdrs"),
    ("GET", "/v1/rating-jobs"),
    ("GET", "/v1/sessions"),
    ("POST", "/v1/subscriber-accounts"),
    ("GET", "/v1/subscriber-accounts/{subscriber_account_id}"),
    ("PATCH", "/v1/subscriber-accounts/{subscriber_account_id}"),
    ("POST", "/v1/subscriber-accounts/{subscriber_account_id}/accounts"),
    ("GET", "/v1/accounts/{account_id}"),
    ("PATCH", "/v1/accounts/{account_id}"),
    ("GET", "/v1/accounts/{account_id}/operations"),
    ("POST", "/v1/accounts/{account_id}/adjustments"),
    ("POST", "/v1/contracts"),
    ("GET", "/v1/contracts/{contract_id}"),
    ("PATCH", "/v1/contracts/{contract_id}"),
    ("POST", "/v1/accesses"),
    ("GET", "/v1/accesses"),
    ("POST", "/v1/master-data"),
    ("POST", "/v1/charging"),
    ("GET", "/v1/contract-states"),
    ("POST", "/v1/contract-states:restore"),
    ("POST", "/v1/migration:begin"),
    ("POST", "/v1/migration:end"),
    ("POST", "/v1/sessions"),
    ("POST", "/v1/sessions:cleanup"),
    ("GET", "/v1/ledger:verify"),
    ("GET", "/v1/sessions/{session_id}"),
    ("POST", "/v1/sessions/{session_id}/updates"),
    ("POST", "/v1/sessions/{session_id}/stop"),
    ("POST", "/v1/sessions/{session_id}/cancel"),
    ("POST", "/v1/sessions/{session_id}/cleanup"),
    ("GET", "/v1/subscriber-accounts/{subscriber_account_id}/sessions"),
    ("POST", "/v1/reservations/{reservation_id}/stop"),
    ("POST", "/v1/price-enquiries"),
    ("POST", "/v1/authorizations"),
    ("GET", "/v1/authorizations/{reservation_id}"),
    ("POST", "/v1/authorizations/{reservation_id}:capture"),
    ("POST", "/v1/authorizations/{reservation_id}:release"),
    ("POST", "/v1/cdrs"),
    ("GET", "/v1/cdrs/{cdr_id}"),
    ("POST", "/v1/rating-jobs"),
    ("GET", "/v1/rating-jobs/{job_id}"),
    ("POST", "/v1/rating-jobs/{job_id}:cancel"),
    ("POST", "/v1/item-files:export"),
    ("GET", "/v1/item-files"),
    ("GET", "/v1/item-files/{file_id}"),
    ("POST", "/v1/fees:run"),
    ("GET", "/v1/contracts/{contract_id}/activations"),
    ("POST", "/v1/refills"),
    ("POST", "/v1/recharges"),
    ("GET", "/v1/contracts/{contract_id}/restoration-point"),
    ("POST", "/v1/recharge-jobs"),
    ("GET", "/v1/recharge-jobs/{job_id}"),
    ("GET", "/v1/notifications"),
    ("GET", "/v1/audit"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}
# POST creates, except custom methods (``/noun:verb``), which act on existing records and answer 200.
# Session steps (``/updates``, ``/stop``, ``/cancel``, ``/cleanup``) act on a live session and answer 200 too.
SESSION_STEPS = ("/updates", "/stop", "/cancel", "/cleanup")
# A price enquiry creates nothing (it stores no record): it answers 200.
ANSWERING = {("POST", "/v1/price-enquiries")}
CREATING = {
    (method, path) for method, path in ROUTES if method == "POST" and ":" not in path and not path.endswith(SESSION_STEPS)
} - ANSWERING
ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture
def document(bare_client: TestClient) -> dict[str, Any]:
    response = bare_client.get("/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation for path, item in document["paths"].items() for method, operation in item.items()}


def _schema_ref(response: dict[str, Any]) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref: str | None = schema.get("$ref")
    return ref


def test_document_lists_every_route_with_its_methods(document: dict[str, Any]) -> None:
    assert set(_operations(document)) == ROUTES


def test_every_route_has_a_summary_and_a_unique_operation_id(document: dict[str, Any]) -> None:
    operations = _operations(document).values()

    assert all(operation.get("summary") for operation in operations)
    ids = [operation["operationId"] for operation in operations]
    assert len(set(ids)) == len(ids)


def test_every_route_documents_its_success_response(document: dict[str, Any]) -> None:
    for route, operation in _operations(document).items():
        status = "201" if route in CREATING else "200"
        content = operation["responses"][status].get("content", {})
        assert content and all(media.get("schema") for media in content.values()), route


def test_every_route_declares_the_error_model(document: dict[str, Any]) -> None:
    for route, operation in _operations(document).items():
        errors = {status: response for status, response in operation["responses"].items() if int(status) >= 400}
        assert {"400", "500"} <= set(errors), route
        assert all(_schema_ref(response) == ERROR_REF for response in errors.values()), route
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, route


def test_framework_validation_model_is_not_used(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(document)


def test_error_model_is_the_one_error_shape(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ErrorBody"]

    assert set(schema["required"]) == {"category", "reason", "code", "message", "details"}
    assert set(schema["properties"]) == {"category", "reason", "code", "message", "details", "causes", "request_id", "notifications"}
    cause = document["components"]["schemas"]["ErrorCauseBody"]
    assert set(cause["required"]) == set(cause["properties"]) == {"category", "reason", "code", "message"}


def test_charging_documents_exact_decimals_replays_and_the_idempotency_header(document: dict[str, Any]) -> None:
    charging = _operations(document)[("POST", "/v1/charging")]

    assert "exact decimal" in charging["description"]
    assert "never through a float" in charging["description"]
    assert set(charging["responses"]) >= {"200", "201", "404", "409", "422", "500", "503"}
    assert "Retry-After" in charging["responses"]["503"]["headers"]
    assert [parameter["name"] for parameter in charging["parameters"]] == ["Idempotency-Key"]


def test_amounts_are_documented_as_strings(document: dict[str, Any]) -> None:
    amount = document["components"]["schemas"]["ChargedItemView"]["properties"]["amount"]

    assert {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"} in amount["anyOf"]
    assert {"type": "number"} not in amount["anyOf"]


def test_a_rating_job_status_counts_its_cdrs_by_path_and_reason(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert schemas["JobStatus"]["properties"]["paths"]["items"] == {"$ref": "#/components/schemas/PathCount"}
    assert "paths" in schemas["JobStatus"]["required"]
    assert set(schemas["PathCount"]["properties"]) == {"path", "reason", "detail", "count"}


def test_document_is_stable(engine: Engine, document: dict[str, Any]) -> None:
    """Two apps built alike publish the same document, byte for byte."""
    again = create_app(engine).openapi()

    assert json.dumps(again, sort_keys=True) == json.dumps(document, sort_keys=True)


# ---- a document worth reading ---------------------------------------------------------------------------------


def _object_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = document["components"]["schemas"]
    return {name: schema for name, schema in schemas.items() if schema.get("type") == "object" or "properties" in schema}


def test_every_field_of_every_schema_has_a_description(document: dict[str, Any]) -> None:
    bare = [
        f"{name}.{field}"
        for name, schema in document["components"]["schemas"].items()
        for field, spec in schema.get("properties", {}).items()
        if not spec.get("description")
    ]

    assert bare == []


def test_every_parameter_has_a_description(document: dict[str, Any]) -> None:
    bare = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]

    assert bare == []


def test_every_request_and_response_schema_has_an_example_that_it_accepts(document: dict[str, Any]) -> None:
    schemas = _object_schemas(document)
    without = sorted(name for name, schema in schemas.items() if not schema.get("examples"))
    refused = {}
    for name, schema in schemas.items():
        for example in schema.get("examples", []):
            errors = [error.message for error in jsonschema_rs.Draft202012Validator(_rooted(document, name)).iter_errors(example)]
            if errors:
                refused[name] = errors[:3]

    assert without == []
    assert refused == {}


def _rooted(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema ``name`` as a document of its own, its references into the components resolvable."""
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


QUANTITIES = [
    ("StartSessionRequest", "requested_quantity"),
    ("UpdateSessionRequest", "used_quantity"),
    ("UpdateSessionRequest", "requested_quantity"),
    ("StopSessionRequest", "used_quantity"),
    ("SessionResult", "granted_quantity"),
    ("ChargedItemView", "quantity"),
]


@pytest.mark.parametrize(("schema", "field"), QUANTITIES, ids=[f"{schema}.{field}" for schema, field in QUANTITIES])
def test_quantities_are_numbers_or_decimal_strings_never_booleans(document: dict[str, Any], schema: str, field: str) -> None:
    spec = document["components"]["schemas"][schema]["properties"][field]
    types = {branch.get("type") for branch in spec.get("anyOf", [spec]) if "type" in branch} - {"null"}

    assert types and types <= {"string", "integer", "number"}, spec
    strings = [branch for branch in spec.get("anyOf", [spec]) if branch.get("type") == "string"]
    assert all("pattern" in branch for branch in strings), spec


def test_every_operation_declares_each_error_status_its_category_may_answer(document: dict[str, Any]) -> None:
    """The statuses of the one error shape every route can meet: unreadable or oversized body (400), keys (401, 403),
    a fault (500); a route with input also declares 422."""
    for route, operation in _operations(document).items():
        declared = set(operation["responses"])
        assert {"400", "401", "403", "500"} <= declared or route in {("GET", "/healthz"), ("GET", "/metrics")}, route
