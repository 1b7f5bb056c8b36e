"""Authorizations over HTTP (``/v1/authorizations``) and from the command line (``kopek authorizations``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from tests.e2e.cli_support import Kopek
from tests.e2e.http_world import ok
from tests.worlds import AT, build_world


def authorize_body(reservation_id: str = "order-1", seconds: Any = "300", **extra: Any) -> dict[str, Any]:
    item = {
        "item_class": "voice_call",
        "consumption_date": AT.isoformat(),
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "properties": {"duration": seconds, "destination": "33123"},
    }
    return {"reservation_id": reservation_id, "item": item, "ttl_ms": 600_000, **extra}


def test_an_authorization_reserved_then_captured_over_http(client: TestClient) -> None:
    created = ok(client.post("/v1/authorizations", json=authorize_body(idempotency_key="a-1")), 201)
    assert (created["authorization"]["status"], created["authorization"]["reserved_amount"]) == ("reserved", "2.40")
    replayed = ok(client.post("/v1/authorizations", json=authorize_body(idempotency_key="a-1")), 200)
    assert replayed["replayed"] is True
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "10.00"
    assert ok(client.get("/v1/authorizations/order-1"))["status"] == "reserved"
    captured = ok(client.post("/v1/authorizations/order-1:capture", json={"quantity": 90}))
    assert (captured["authorization"]["status"], captured["authorization"]["charged_amount"]) == ("captured", "0.60")
    assert [line["amount"] for line in captured["charge"]["charged_items"]] == ["0.60"]
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "9.40"
    again = client.post("/v1/authorizations/order-1:release")
    assert (again.status_code, again.json()["category"], again.json()["code"]) == (409, "ILLEGAL_STATE", "authorization_already_resolved")


def test_authorization_errors_are_structured(client: TestClient) -> None:
    ok(client.post("/v1/authorizations", json=authorize_body()), 201)
    duplicate = client.post("/v1/authorizations", json=authorize_body())
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "already_exists")
    too_much = client.post("/v1/authorizations", json=authorize_body("order-2", seconds="3600"))
    assert (too_much.status_code, too_much.json()["code"]) == (409, "prepaid_balance_cannot_cover")
    ttl = client.post("/v1/authorizations", json={**authorize_body("order-3"), "ttl_ms": 1})
    assert (ttl.status_code, ttl.json()["code"]) == (422, "session_ttl_out_of_bounds")
    missing = client.post("/v1/authorizations/nothing:capture")
    assert (missing.status_code, missing.json()["category"]) == (404, "DOES_NOT_EXIST")
    released = ok(client.post("/v1/authorizations/order-1:release", json={"idempotency_key": "r-1"}))
    assert released["authorization"]["status"] == "released"
    assert ok(client.post("/v1/authorizations/order-1:release", headers={"Idempotency-Key": "r-1"}))["replayed"] is True


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    with Engine(any_url) as engine:
        build_world(engine)
    return Kopek(url=any_url)


def create_args(reservation_id: str, *extra: str) -> list[str]:
    return [
        "authorizations", "create", "--reservation-id", reservation_id, "--class", "voice_call", "--service-id", "mobile",
        "--user-id", "alice-msisdn", "-p", "duration=300", "-p", "destination=33123", "--at", AT.isoformat(), *extra,
    ]  # fmt: skip


def test_an_authorization_from_the_command_line(kopek: Kopek) -> None:
    created = kopek.json(*create_args("order-1"))
    assert created["authorization"]["authorized_amount"] == "2.40"
    assert "Authorization order-1" in kopek.ok("authorizations", "show", "order-1").stdout
    captured = kopek.json("authorizations", "capture", "order-1", "--quantity", "120")
    assert captured["authorization"]["charged_amount"] == "0.60"
    assert "Authorized order-2" in kopek.ok(*create_args("order-2")).stdout
    released = kopek.ok("authorizations", "release", "order-2").stdout
    assert "Released order-2" in released
    assert kopek.refused("authorizations", "release", "order-2")["code"] == "authorization_already_resolved"
    assert kopek.refused("authorizations", "show", "nothing")["category"] == "DOES_NOT_EXIST"
