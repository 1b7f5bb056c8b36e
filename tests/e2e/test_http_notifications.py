"""``GET /v1/notifications`` and the publisher that ``create_app`` runs when given a NATS URL."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from kopek import Engine
from kopek.api.app import create_app
from kopek.notify.publisher import PublisherSettings
from tests.e2e.http_world import charge_body
from tests.notify_support import Received, add_prepaid, call, load_catalog_with_topup, publishing, received, sms

__all__ = ["publishing"]

LIFESPAN_WAIT_SECONDS = 15.0


def _sms_body(holder: str) -> dict[str, Any]:
    item = sms(holder)
    return {
        "item": {
            "item_class": item.item_class,
            "consumption_date": item.consumption_date.isoformat(),
            "service_id": item.service_id,
            "user_id": item.user_id,
            "properties": item.properties,
        },
        "options": {"notifications": True},
    }


def test_notifications_are_listed_with_filters_and_a_next_page(engine: Engine, bare_client: TestClient) -> None:
    load_catalog_with_topup(engine)
    add_prepaid(engine, "carol", balance="0.80", threshold="0.75")
    charged = bare_client.post("/v1/charging", json=_sms_body("carol")).json()
    engine.charge(call("carol", seconds="120"))

    everything = bare_client.get("/v1/notifications").json()
    first = bare_client.get("/v1/notifications", params={"limit": 1}).json()
    low = bare_client.get("/v1/notifications", params={"kind": "low_balance", "contract_id": "carol-contract"}).json()

    assert charged["notifications"][0]["kind"] == "low_balance"
    assert [note["kind"] for note in everything["notifications"]] == ["low_balance", "allowance_exhausted"]
    assert everything["next_after_id"] is None
    assert first["next_after_id"] == first["notifications"][0]["id"]
    (note,) = low["notifications"]
    assert note["data"] == {
        "account_id": "carol-prepaid",
        "subscriber_account_id": "carol",
        "threshold": "0.75",
        "balance": "0.70",
        "currency": "EUR",
    }
    assert (note["operation_id"], note["subscriber_account_id"], note["published_at"]) == (charged["operation_id"], "carol", None)


def test_an_unknown_kind_or_a_page_past_the_bound_is_refused(bare_client: TestClient) -> None:
    unknown = bare_client.get("/v1/notifications", params={"kind": "weather"})
    too_many = bare_client.get("/v1/notifications", params={"limit": 1_001})

    assert (unknown.status_code, unknown.json()["category"]) == (422, "INVALID")
    assert too_many.status_code in (400, 422)
    assert too_many.json()["category"] == "INVALID"


def test_the_openapi_document_describes_the_notification_and_its_data_per_kind(bare_client: TestClient) -> None:
    document = bare_client.get("/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    listing = document["paths"]["/v1/notifications"]["get"]

    assert set(schemas["ListedNotification"]["properties"]) == {
        "id",
        "kind",
        "message",
        "data",
        "operation_id",
        "contract_id",
        "subscriber_account_id",
        "created_at",
        "published_at",
    }
    assert "low_balance" in schemas["NotificationKind"]["enum"]
    assert "`low_balance`: `account_id`" in listing["description"]


def _wait_for(settings: PublisherSettings, count: int) -> list[Received]:
    deadline = time.monotonic() + LIFESPAN_WAIT_SECONDS
    arrived = received(settings, wait_seconds=0.2)
    while len(arrived) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        arrived = received(settings, wait_seconds=0.2)
    return arrived


def test_a_server_with_a_nats_url_publishes_what_an_http_charge_raised(engine: Engine, publishing: PublisherSettings) -> None:
    load_catalog_with_topup(engine)
    add_prepaid(engine, "carol", balance="0.80", threshold="0.75")
    app = create_app(engine, notification_publishing=replace(publishing, interval_seconds=0.05))

    with TestClient(app) as client:
        charged = client.post("/v1/charging", json=_sms_body("carol")).json()
        arrived = _wait_for(publishing, 1)
        client.post("/v1/charging", json=charge_body("carol-msisdn"))  # 60 free seconds used up: allowance_exhausted
        arrived = _wait_for(publishing, 2)
        listed = client.get("/v1/notifications").json()["notifications"]

    assert [message.subject for message in arrived] == [publishing.subject("low_balance"), publishing.subject("allowance_exhausted")]
    assert arrived[0].document["operation_id"] == charged["operation_id"]
    assert arrived[0].document["data"]["balance"] == "0.70"
    assert [message.document["id"] for message in arrived] == [note["id"] for note in listed]
    assert all(note["published_at"] is not None for note in listed)


def test_a_server_whose_nats_is_away_keeps_charging_and_keeps_the_notifications(engine: Engine) -> None:
    load_catalog_with_topup(engine)
    add_prepaid(engine, "carol", balance="0.80", threshold="0.75")
    away = PublisherSettings("nats://127.0.0.1:1", interval_seconds=0.05)

    with TestClient(create_app(engine, notification_publishing=away)) as client:
        response = client.post("/v1/charging", json=_sms_body("carol"))
        time.sleep(0.3)  # a few failing publishing passes

    assert response.status_code == 201
    assert [note.published_at for note in engine.notifications()] == [None]
