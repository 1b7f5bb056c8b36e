"""Floors hold: what a live grant was priced with stays its own until its session settles.

A grant holds money (its reservation) and the free units it was priced with. Offline
charges, batch CDRs and the other sessions of the contract are priced on what the grants
leave, so a session's usage within its grant costs what it reserved and never takes a
balance below its floor. Anything charged beyond a floor comes with ``usage_above_grant``.

The tariff: 600 free seconds per contract item, then 0.60 per started minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from kopek import ChargeableItem, Code, Engine, KopekError
from kopek.batch.rating_jobs import RatingMode
from kopek.charging.session_views import StartSession, StopSession, UpdateSession
from kopek.documents import parse_document
from tests.integration.sessions_support import reserved_total
from tests.integration.support import operations_sum, prepaid_subscriber, voice_contract
from tests.worlds import AT

CATALOG = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: integer, unit: seconds}
charge_plans:
  - name: bundle
    currency: EUR
    counters:
      - {name: free_seconds, scope: contract_item, unit: seconds, initial: 600}
    charges:
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: free_seconds
          then: {type: rate, amount: "0.60", unit: minutes, increment: 1}
"""


@pytest.fixture
def world(any_url: str) -> Iterator[Engine]:
    with Engine(any_url) as engine:
        engine.load_catalog(parse_document(CATALOG, source="bundle.yaml"))
        yield engine


def line(engine: Engine, holder: str, *, balance: str) -> str:
    """A prepaid subscriber ``holder`` with one contract ``{holder}-line`` on the bundle; its user id."""
    prepaid_subscriber(engine, holder, balance=balance)
    voice_contract(engine, f"{holder}-line", holder, "bundle")
    return f"{holder}-line"


def start(session_id: str, user: str, requested: int) -> StartSession:
    return StartSession(session_id, "call", "voice", user, AT, 60_000, "duration", {}, requested_quantity=requested)


def call(user: str, seconds: int) -> ChargeableItem:
    return ChargeableItem("call", AT + timedelta(minutes=1), "voice", user, {"duration": seconds})


def test_an_offline_charge_cannot_use_the_free_units_a_grant_holds(world: Engine) -> None:
    # The -5.30 of a 0.10 balance: the grant holds 540 free seconds, an offline call used them, the session's
    # 540 seconds were then charged 5.40 without a floor check.
    user = line(world, "carol", balance="0.10")
    started = world.start_session(start("s1", user, 540))
    assert (started.granted_quantity, started.reserved_amount) == (Decimal(540), Decimal(0))

    with pytest.raises(KopekError) as refused:
        world.charge(call(user, 600))  # 60 free seconds are left to it: 540 s cost 5.40
    assert refused.value.code is Code.INSUFFICIENT_BALANCE
    free = world.charge(call(user, 60))
    assert free.charged_items is not None and free.charged_items[0].amount == Decimal("0.00")

    stopped = world.stop_session(StopSession("s1", used_quantity=540))

    assert stopped.session.charged_amount == Decimal("0.00")
    assert [note.kind for note in stopped.notifications] == ["allowance_exhausted"]
    assert world.account("carol-prepaid").balance == Decimal("0.10") == operations_sum(world, "carol-prepaid")


def test_a_session_that_settles_first_cannot_use_the_free_units_an_earlier_grant_holds(world: Engine) -> None:
    user = line(world, "carol", balance="5.40")
    first = world.start_session(start("first", user, 540))  # 540 of the 600 free seconds
    second = world.start_session(start("second", user, 600))  # 60 free, then 9 minutes: 5.40
    assert (first.reserved_amount, second.reserved_amount) == (Decimal(0), Decimal("5.40"))

    updated = world.update_session(UpdateSession("second", used_quantity=600, requested_quantity=540))

    assert updated.charge is not None and updated.charge.charged_items is not None
    assert updated.charge.charged_items[0].amount == Decimal("5.40")
    assert (updated.granted_quantity, updated.grant_refusal) == (Decimal(0), "prepaid_balance_cannot_cover")
    stopped = world.stop_session(StopSession("first", used_quantity=540))
    assert stopped.session.charged_amount == Decimal("0.00")
    world.stop_session(StopSession("second", used_quantity=0))
    assert world.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(world, "carol-prepaid")
    assert reserved_total(world, "carol-prepaid") == 0


def test_a_batch_cdr_cannot_use_the_free_units_a_grant_holds(world: Engine) -> None:
    user = line(world, "carol", balance="20.00")
    world.start_session(start("s1", user, 540))
    cdr = {"id": "c1", "item_class": "call", "consumption_date": AT.isoformat(), "service_id": "voice", "user_id": user}
    world.import_cdrs(enumerate([cdr | {"properties": {"duration": 600}}], start=1), strict=True)

    world.run_rating_job(world.start_rating_job(RatingMode.DAY_MOST))

    assert world.cdr("c1").status == "charged"
    assert world.account("carol-prepaid").balance == Decimal("14.60")  # 60 free, 540 s at 0.60 a minute
    world.stop_session(StopSession("s1", used_quantity=540))
    assert world.account("carol-prepaid").balance == Decimal("14.60") == operations_sum(world, "carol-prepaid")


def test_usage_within_its_grant_charged_beyond_the_floor_tells_usage_above_grant(world: Engine) -> None:
    # Rare by design: here the tariff doubled between the grant and its usage.
    user = line(world, "carol", balance="6.00")
    started = world.start_session(start("s1", user, 1200))  # 600 free, then 10 minutes: 6.00
    assert started.reserved_amount == Decimal("6.00")
    world.load_catalog(parse_document(CATALOG.replace('"0.60"', '"1.20"'), source="bundle.yaml"))

    stopped = world.stop_session(StopSession("s1", used_quantity=1200))

    assert stopped.session.charged_amount == Decimal("12.00")
    above = [note for note in stopped.notifications if note.kind == "usage_above_grant"]
    assert [note.data for note in above] == [
        {"session_id": "s1", "used_quantity": "1200", "granted_quantity": "1200", "beyond_bound": "carol-prepaid"}
    ]
    assert world.account("carol-prepaid").balance == Decimal("-6.00")


def test_usage_within_its_grant_and_its_floor_tells_nothing_above_it(world: Engine) -> None:
    user = line(world, "carol", balance="6.00")
    world.start_session(start("s1", user, 1200))
    stopped = world.stop_session(StopSession("s1", used_quantity=1200))
    assert "usage_above_grant" not in [note.kind for note in stopped.notifications]
    assert world.account("carol-prepaid").balance == Decimal("0.00")
