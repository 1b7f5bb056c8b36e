"""Price enquiry over HTTP (``POST /v1/price-enquiries``) and from the command line (``kopek quote``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from tests.e2e.cli_support import Kopek
from tests.e2e.http_world import ok
from tests.worlds import AT, build_world


def enquiry(seconds: Any = "125", **extra: Any) -> dict[str, Any]:
    item = {
        "item_class": "voice_call",
        "consumption_date": AT.isoformat(),
        "service_id": "mobile",
        "user_id": "alice-msisdn",
        "properties": {"duration": seconds, "destination": "33123"},
    }
    return {"item": item, **extra}


def test_a_price_enquiry_over_http_answers_the_breakdown_and_charges_nothing(client: TestClient) -> None:
    answer = ok(client.post("/v1/price-enquiries", json=enquiry(maximum_affordable=True)))
    assert (answer["amount"], answer["currency"], answer["quantity"]) == ("1.20", "EUR", "125")
    assert [(node["node"], node["quantity"], node["amount"]) for node in answer["charges"][0]["nodes"]] == [
        ("allowance", "125", "1.2"),
        ("prefix", "65", "1.2"),
        ("rate", "65", "1.2"),
    ]
    assert [(use["counter"], use["used"]) for use in answer["allowances"]] == [("free_seconds", "60")]
    assert answer["maximum_affordable"]["quantity"] == "1020"
    assert ok(client.get("/v1/accounts/alice-prepaid"))["balance"] == "10.00"
    # A JSON number is read exactly, as its text.
    assert ok(client.post("/v1/price-enquiries", json=enquiry(quantity=90.5)))["quantity"] == "90.5"


def test_a_refused_price_enquiry_answers_the_charges_error(client: TestClient) -> None:
    barred = client.post("/v1/price-enquiries", json={"item": {**enquiry()["item"], "properties": {"duration": "5", "destination": "999"}}})
    assert (barred.status_code, barred.json()["code"]) == (409, "service_not_accessible")
    sms = {"item_class": "sms", "consumption_date": AT.isoformat(), "service_id": "mobile", "user_id": "alice-msisdn"}
    no_quantity = client.post("/v1/price-enquiries", json={"item": sms, "quantity": "3"})
    assert (no_quantity.status_code, no_quantity.json()["code"]) == (422, "item_class_has_no_quantity")
    unknown = client.post("/v1/price-enquiries", json={**enquiry(), "extra": 1})
    assert unknown.status_code == 422


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    with Engine(any_url) as engine:
        build_world(engine)
    return Kopek(url=any_url)


def quote_args(*extra: str) -> list[str]:
    return [
        "quote", "--class", "voice_call", "--service-id", "mobile", "--user-id", "alice-msisdn",
        "-p", "duration=125", "-p", "destination=33123", "--at", AT.isoformat(), *extra,
    ]  # fmt: skip


def test_kopek_quote_prints_the_breakdown(kopek: Kopek) -> None:
    answer = kopek.json(*quote_args("--maximum-affordable"))
    assert (answer["amount"], answer["maximum_affordable"]["quantity"]) == ("1.20", "1020")
    assert kopek.json(*quote_args("--quantity", "30"))["amount"] == "0.00"
    shown = kopek.ok(*quote_args("--maximum-affordable")).stdout
    assert "Quote of voice_call of 125 seconds for contract alice-contract" in shown
    assert "Allowances used" in shown and "Maximum affordable quantity: 1020" in shown
    assert kopek.json("accounts", "show", "alice")["accounts"][0]["balance"] == "10.00"


def test_kopek_quote_refusals_exit_1(kopek: Kopek) -> None:
    assert kopek.refused(*quote_args("--quantity", "-2"))["code"] == "quantity_negative"
    assert kopek.refused("quote", "--class", "fax", "--service-id", "mobile", "--user-id", "x")["code"] == "item_class_unknown"
