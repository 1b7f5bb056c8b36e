"""The ``schedule`` and ``cap`` nodes through the engine, on both databases: a money counter is stored.

The world's tariff (tests/worlds.py) with two changes: SMS cost 0.10 each, capped at 0.25
in total by the ``sms_spent`` counter (unit ``amount``); calls cost 0.60 per minute from
08:00 to 20:00 on working days in Paris and 0.30 per minute otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kopek import ChargeableItem, Engine
from kopek.admin.views import CounterView
from tests.worlds import balance, build_world, call, catalog_document

SMS_PRICE = {"type": "cap", "maximum": "0.25", "counter": "sms_spent", "price": {"type": "flat", "amount": "0.10"}}
CALL_PRICE = {
    "type": "schedule",
    "time_zone": "Europe/Paris",
    "windows": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "from": "08:00",
            "to": "20:00",
            "price": {"type": "rate", "amount": "0.60", "unit": "minutes"},
        },
        {"price": {"type": "rate", "amount": "0.30", "unit": "minutes"}},
    ],
}


def catalog() -> Any:
    document = catalog_document()
    (plan,) = document["charge_plans"]
    plan["counters"] = [{"name": "sms_spent", "unit": "amount"}]
    for charge in plan["charges"]:
        if charge["name"] == "sms":
            charge["price"] = SMS_PRICE
        if charge["name"] == "voice":
            charge["price"] = CALL_PRICE
    return document


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    engine.load_catalog(catalog())
    return engine


def test_cap_on_a_money_counter_is_stored_between_items(world: Engine) -> None:
    sms = ChargeableItem("sms", datetime(2026, 6, 1, 10, 0, tzinfo=UTC), "mobile", "bob-msisdn", {"destination": "33612345678"})

    amounts = []
    for _ in range(4):
        result = world.charge(sms)
        assert result.charged_items is not None
        amounts.append(result.charged_items[0].amount)

    assert amounts == [Decimal("0.10"), Decimal("0.10"), Decimal("0.05"), Decimal("0.00")]
    assert world.contract("bob-contract").counters == [
        CounterView(
            scope="contract_item",
            item_id="main",
            period_start=None,
            expires_at=None,
            name="sms_spent",
            unit="amount",
            value=Decimal("0.25"),
        )
    ]
    assert balance(world, "bob-postpaid") == Decimal("0.25")


def test_a_call_across_the_end_of_peak_is_split(world: Engine) -> None:
    # Monday 1 June 2026, 19:55 Paris (CEST) = 17:55 UTC, 10 minutes: 5 × 0.60 + 5 × 0.30.
    result = world.charge(call("bob-msisdn", seconds="600", at=datetime(2026, 6, 1, 17, 55, tzinfo=UTC)))

    assert result.charged_items is not None
    assert result.charged_items[0].amount == Decimal("4.50")
