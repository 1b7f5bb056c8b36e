"""Requests and read-backs for the HTTP end-to-end tests, over the world of :mod:`tests.worlds`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from kopek import Engine
from tests.worlds import AT


def charge_body(
    user: str = "alice-msisdn",
    *,
    seconds: str = "120",
    destination: str = "33123",
    at: datetime = AT,
    options: dict[str, bool] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A POST /v1/charging body for a voice call."""
    body: dict[str, Any] = {
        "item": {
            "item_class": "voice_call",
            "consumption_date": at.isoformat(),
            "service_id": "mobile",
            "user_id": user,
            "properties": {"duration": seconds, "destination": destination},
        },
        **extra,
    }
    if options is not None:
        body["options"] = options
    return body


def item_body(item_class: str, properties: dict[str, Any], *, user: str = "alice-msisdn", at: datetime = AT) -> dict[str, Any]:
    """A POST /v1/charging body for any item class."""
    return {
        "item": {
            "item_class": item_class,
            "consumption_date": at.isoformat(),
            "service_id": "mobile",
            "user_id": user,
            "properties": properties,
        }
    }


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of ``response``, after checking its status."""
    assert response.status_code == status, response.text
    return response.json()


@dataclass(frozen=True)
class Persisted:
    """What a charge may change, read back through HTTP (and the operation count through SQL)."""

    balance: str
    operations: list[dict[str, Any]]
    counters: list[dict[str, Any]] | None
    charging_operations: int


def persisted(client: TestClient, engine: Engine, *, holder: str = "alice", kind: str = "prepaid", counters: bool = True) -> Persisted:
    account = ok(client.get(f"/v1/accounts/{holder}-{kind}"))
    operations = ok(client.get(f"/v1/accounts/{holder}-{kind}/operations"))["operations"]
    contract_counters = ok(client.get(f"/v1/contracts/{holder}-contract"))["counters"] if counters else None
    with engine.database.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM charging_operations")).scalar_one()
    return Persisted(account["balance"], operations, contract_counters, count)


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error body of ``response``, after checking its status and its shape."""
    body = ok(response, status)
    assert set(body) - {"notifications"} == {"category", "reason", "code", "message", "details", "causes", "request_id"}, body
    assert body["request_id"] == response.headers["X-Request-Id"], body
    return body
