"""Charging sessions over HTTP, as a network element drives them: start, update, stop, read, clean up."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient

from kopek import Engine
from kopek.api.app import create_app
from tests.e2e.http_world import ok
from tests.fakes import FixedClock
from tests.worlds import AT, build_world


def start_body(session_id: str, *, requested: Any = "300", resolution: str = "confirmed", **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "consumption_date": AT.isoformat(),
        "ttl_ms": 60_000,
        "quantity_property": "duration",
        "requested_quantity": requested,
        "default_resolution": resolution,
        "item": {"item_class": "voice_call", "properties": {"destination": "33123"}},
        **extra,
    }


def test_a_call_from_start_to_stop(client: TestClient) -> None:
    started = ok(client.post("/v1/sessions", json=start_body("call-1", requested=600)), 201)
    assert (started["granted_quantity"], started["reserved_amount"]) == ("600", "5.40")
    updated = ok(client.post("/v1/sessions/call-1/updates", json={"used_quantity": "600", "requested_quantity": "600"}))
    assert [line["amount"] for line in updated["charge"]["charged_items"]] == ["5.40"]
    assert (updated["granted_quantity"], updated["reserved_amount"]) == ("420", "4.20")
    assert [view["session_id"] for view in ok(client.get("/v1/subscriber-accounts/alice/sessions"))["sessions"]] == ["call-1"]
    stopped = ok(client.post("/v1/sessions/call-1/stop", json={"used_quantity": 200}))
    assert stopped["session"]["status"] == "stopped"
    assert stopped["session"]["charged_amount"] == "7.80"  # 200 s bill 4 started minutes: 2.40
    shown = ok(client.get("/v1/sessions/call-1"))
    assert [item["operation_id"] for item in shown["impacts"]["charged_items"]] == ["op-000001", "op-000002"]
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "2.20"
    assert ok(client.get("/v1/subscriber-accounts/alice/sessions"))["sessions"] == []


def test_session_errors_are_structured(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("call-1")), 201)
    duplicate = client.post("/v1/sessions", json=start_body("call-1"))
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "already_exists")
    ttl = client.post("/v1/sessions", json=start_body("call-2", ttl_ms=1))
    assert (ttl.status_code, ttl.json()["category"], ttl.json()["code"]) == (422, "INVALID", "session_ttl_out_of_bounds")
    negative = client.post("/v1/sessions/call-1/updates", json={"used_quantity": "-1"})
    assert (negative.status_code, negative.json()["code"]) == (422, "quantity_negative")
    words = client.post("/v1/sessions/call-1/updates", json={"used_quantity": "lots"})
    assert (words.status_code, words.json()["code"]) == (422, "request_invalid")
    missing = client.post("/v1/sessions/call-9/stop", json={})
    assert (missing.status_code, missing.json()["category"]) == (404, "DOES_NOT_EXIST")
    ok(client.post("/v1/sessions/call-1/cancel"))
    again = client.post("/v1/sessions/call-1/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "session_already_ended")


def test_multiservice_stop_ends_every_session_of_the_reservation(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("ccr-voice", reservation_id="ccr-1")), 201)
    ok(client.post("/v1/sessions", json=start_body("ccr-voice-2", reservation_id="ccr-1", requested="60")), 201)
    ended = ok(client.post("/v1/reservations/ccr-1/stop", json={"used": {"ccr-voice": "60"}}))
    assert sorted((result["session"]["session_id"], result["session"]["status"]) for result in ended) == [
        ("ccr-voice", "stopped"),
        ("ccr-voice-2", "stopped"),
    ]


def test_expiry_pass_and_forced_cleanup(client: TestClient, engine: Engine, clock: FixedClock) -> None:
    ok(client.post("/v1/sessions", json=start_body("call-1", resolution="cancelled")), 201)
    ok(client.post("/v1/sessions", json=start_body("call-2", resolution="confirmed")), 201)
    forced = ok(client.post("/v1/sessions/call-2/cleanup"))
    # call-1's live grant holds the 60 free seconds: call-2's 300 s cost what it reserved, 5 minutes.
    assert (forced["session"]["status"], forced["session"]["charged_amount"]) == ("expired", "3.00")
    assert ok(client.post("/v1/sessions:cleanup"))["resolved"] == []
    clock.advance(minutes=2)
    assert ok(client.post("/v1/sessions:cleanup"))["resolved"] == ["call-1"]
    assert str(engine.account("alice-prepaid").balance) == "7.00"


def test_the_served_app_cleans_up_expired_sessions_in_the_background(engine: Engine, clock: FixedClock) -> None:
    build_world(engine)
    with TestClient(create_app(engine, cleanup_interval_seconds=0.05)) as served:
        ok(served.post("/v1/sessions", json=start_body("call-1", resolution="cancelled")), 201)
        clock.advance(minutes=2)
        deadline = time.monotonic() + 10
        while ok(served.get("/v1/sessions/call-1"))["status"] == "active" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ok(served.get("/v1/sessions/call-1"))["status"] == "expired"
        # The pass is counted in the metrics the app serves once it has returned.
        while "kopek_sessions_expired_total 1.0" not in served.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "kopek_sessions_expired_total 1.0" in served.get("/metrics").text


def test_a_cleanup_over_http_removes_ended_sessions_after_the_servers_retention(engine: Engine) -> None:
    build_world(engine)
    with TestClient(create_app(engine, session_retention_seconds=0)) as served:
        ok(served.post("/v1/sessions", json=start_body("call-1")), 201)
        ok(served.post("/v1/sessions/call-1/cancel"))
        assert ok(served.post("/v1/sessions:cleanup"))["removed"] == 1
        assert served.get("/v1/sessions/call-1").status_code == 404


def test_without_an_interval_nothing_runs_in_the_background(engine: Engine, clock: FixedClock) -> None:
    build_world(engine)
    with TestClient(create_app(engine)) as served:
        ok(served.post("/v1/sessions", json=start_body("call-1")), 201)
        clock.advance(minutes=2)
        time.sleep(0.2)
        assert ok(served.get("/v1/sessions/call-1"))["status"] == "active"


def test_a_retried_update_with_the_idempotency_key_header_is_replayed(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("call-1", requested=600)), 201)
    body = {"used_quantity": "600", "requested_quantity": "600"}

    first = ok(client.post("/v1/sessions/call-1/updates", json=body, headers={"Idempotency-Key": "u-1"}))
    retry = ok(client.post("/v1/sessions/call-1/updates", json=body | {"idempotency_key": "u-1"}))
    clash = client.post("/v1/sessions/call-1/updates", json=body | {"idempotency_key": "u-2"}, headers={"Idempotency-Key": "u-1"})

    assert (first["replayed"], retry["replayed"]) == (False, True)
    assert retry["charge"] == first["charge"]
    assert clash.status_code == 422 and clash.json()["code"] == "request_invalid"


def test_a_report_carries_the_date_its_usage_began(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("call-1", requested=600)), 201)
    began = (AT + timedelta(hours=1)).astimezone(timezone(timedelta(hours=5)))
    updated = ok(client.post("/v1/sessions/call-1/updates", json={"used_quantity": "60", "consumption_date": began.isoformat()}))
    assert datetime.fromisoformat(updated["charge"]["chargeable_item_info"]["consumption_date"]) == began
    naive = client.post("/v1/sessions/call-1/stop", json={"used_quantity": "60", "consumption_date": "2026-06-01T10:00:00"})
    assert (naive.status_code, naive.json()["category"]) == (422, "INVALID")
    early = client.post(
        "/v1/sessions/call-1/stop", json={"used_quantity": "60", "consumption_date": (AT - timedelta(seconds=1)).isoformat()}
    )
    assert (early.status_code, early.json()["code"]) == (422, "request_invalid")
    stopped = ok(
        client.post("/v1/sessions/call-1/stop", json={"used_quantity": "60", "consumption_date": (AT + timedelta(hours=2)).isoformat()})
    )
    assert datetime.fromisoformat(stopped["charge"]["chargeable_item_info"]["consumption_date"]) == AT + timedelta(hours=2)


def test_a_session_of_another_access_cannot_join_a_reservation(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("alice-voice", reservation_id="ccr-1")), 201)
    refused = client.post("/v1/sessions", json=start_body("bob-voice", reservation_id="ccr-1") | {"user_id": "bob-msisdn"})
    assert refused.status_code == 409
    assert (refused.json()["reason"], refused.json()["code"]) == ("NOT_AUTHORIZED", "reservation_belongs_to_another_access")


def test_cancel_and_multiservice_stop_take_idempotency_keys(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=start_body("call-1")), 201)
    first = ok(client.post("/v1/sessions/call-1/cancel", json={"idempotency_key": "cancel-1"}))
    retry = ok(client.post("/v1/sessions/call-1/cancel", headers={"Idempotency-Key": "cancel-1"}))
    assert (first["replayed"], retry["replayed"]) == (False, True)
    unkeyed = client.post("/v1/sessions/call-1/cancel")
    assert (unkeyed.status_code, unkeyed.json()["code"]) == (409, "session_already_ended")

    ok(client.post("/v1/sessions", json=start_body("ccr-voice", reservation_id="ccr-1")), 201)
    body = {"used": {"ccr-voice": "60"}, "idempotency_key": "stop-ccr-1"}
    stopped = ok(client.post("/v1/reservations/ccr-1/stop", json=body))
    again = ok(client.post("/v1/reservations/ccr-1/stop", json=body))
    assert [result["replayed"] for result in again] == [True]
    assert again[0]["session"]["charged_amount"] == stopped[0]["session"]["charged_amount"] == "0.00"


def test_session_amounts_carry_their_currency(client: TestClient) -> None:
    started = ok(client.post("/v1/sessions", json=start_body("call-1")), 201)
    assert (started["reserved_amount"], started["currency"]) == ("2.40", "EUR")
    assert (started["session"]["currency"], started["session"]["reservations"][0]["currency"]) == ("EUR", "EUR")
    assert ok(client.get("/v1/sessions/call-1"))["currency"] == "EUR"
