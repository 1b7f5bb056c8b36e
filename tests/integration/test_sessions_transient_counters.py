"""Transient counters live for one rating call offline, and for the whole session online."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kopek import ChargeableItem, Engine
from kopek.charging.session_views import StartSession, StopSession, UpdateSession
from kopek.documents import parse_document
from kopek.store.uow import UnitOfWork
from tests.integration.support import prepaid_subscriber, voice_contract

CATALOG = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: integer, unit: seconds}
charge_plans:
  - name: first_minute_free
    currency: EUR
    counters:
      - {name: welcome, scope: transient, unit: seconds, initial: 60}
    charges:
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: welcome
          then: {type: rate, amount: "0.01", unit: seconds}
"""

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def world(any_url: str) -> Iterator[Engine]:
    with Engine(any_url) as engine:
        engine.load_catalog(parse_document(CATALOG, source="transient.yaml"))
        prepaid_subscriber(engine, "ann", balance="50.00")
        voice_contract(engine, "ann-line", "ann", "first_minute_free")
        yield engine


def test_each_offline_call_starts_with_a_fresh_transient_counter(world: Engine) -> None:
    amounts = [world.charge(ChargeableItem("call", AT, "voice", "ann-line", {"duration": 90})).charged_items for _ in range(2)]

    assert [items[0].amount for items in amounts if items] == [Decimal("0.30"), Decimal("0.30")]
    with UnitOfWork(world.database, writes=False) as uow:
        assert uow.counters.of_contract("ann-line") == ({}, {})  # never stored


def test_a_session_keeps_its_transient_counter_across_updates(world: Engine) -> None:
    start = StartSession(
        session_id="s1",
        item_class="call",
        service_id="voice",
        user_id="ann-line",
        consumption_date=AT,
        ttl_ms=60_000,
        quantity_property="duration",
        properties={},
        requested_quantity="40",
    )
    world.start_session(start)
    first = world.update_session(UpdateSession("s1", used_quantity="40", requested_quantity="40"))
    final = world.stop_session(StopSession("s1", used_quantity="40"))

    assert first.charge is not None and final.charge is not None
    assert [item.amount for item in first.charge.charged_items or []] == [Decimal("0.00")]  # 40 of the 60 free seconds
    assert [item.amount for item in final.charge.charged_items or []] == [Decimal("0.20")]  # 20 free left, 20 s at 0.01
    assert world.account("ann-prepaid").balance == Decimal("49.80")
    (transient,) = [impact for impact in final.session.impacts.counters if impact.scope == "transient"]
    assert transient.delta == Decimal(-60)
