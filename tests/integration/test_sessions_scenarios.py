"""Online charging sessions seen from a network element: calls, data, shared balances, equality with offline.

Tariff (tests/worlds.py): calls to 33... cost 0.60 per started minute after 60 free seconds;
alice is prepaid with 10.00 EUR, bob postpaid with a 100.00 EUR credit limit.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from kopek import ChargeableItem, Engine, KopekError
from kopek.charging.session_views import SessionStatus, StartSession, StopSession, UpdateSession
from kopek.store.uow import UnitOfWork
from tests.integration.sessions_support import reserved_total, start_call
from tests.integration.support import add_subscriber, charged_rows, operations_sum
from tests.worlds import AT, balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def test_call_runs_out_of_credit_midway(world: Engine) -> None:
    started = world.start_session(start_call("call-1", requested="600"))
    # 600 s: 60 free, then 9 minutes at 0.60.
    assert (started.granted_quantity, started.reserved_amount) == (Decimal(600), Decimal("5.40"))
    assert reserved_total(world, "alice-prepaid") == Decimal("5.40")

    second = world.update_session(UpdateSession("call-1", used_quantity="600", requested_quantity="600"))
    assert second.charge is not None and [line.amount for line in second.charge.charged_items or []] == [Decimal("5.40")]
    # 4.60 left and no free seconds: 7 minutes (4.20) fit, 8 (4.80) do not.
    assert (second.granted_quantity, second.reserved_amount) == (Decimal(420), Decimal("4.20"))
    assert balance(world, "alice-prepaid") == Decimal("4.60")

    third = world.update_session(UpdateSession("call-1", used_quantity="420", requested_quantity="600"))
    assert (third.granted_quantity, third.reserved_amount, third.grant_refusal) == (0, 0, "prepaid_balance_cannot_cover")
    assert balance(world, "alice-prepaid") == Decimal("0.40")

    stopped = world.stop_session(StopSession("call-1", used_quantity="0"))
    assert stopped.session.status is SessionStatus.STOPPED
    assert stopped.session.used_quantity == Decimal(1020) and stopped.session.charged_amount == Decimal("9.60")
    assert reserved_total(world, "alice-prepaid") == 0
    assert operations_sum(world, "alice-prepaid") == balance(world, "alice-prepaid") == Decimal("0.40")


def test_start_refused_when_not_one_step_fits(engine: Engine) -> None:
    build_world(engine, alice_balance="0.50")
    engine.charge(call(seconds="60"))  # the free seconds are gone
    with pytest.raises(KopekError) as refused:
        engine.start_session(start_call("call-1"))
    assert (refused.value.category, refused.value.code, refused.value.reason) == (
        "ILLEGAL_STATE",
        "prepaid_balance_cannot_cover",
        "CANNOT_CHARGE_ACCOUNT",
    )


def test_without_requested_quantity_grants_what_the_balance_allows(world: Engine) -> None:
    started = world.start_session(start_call("call-1", requested=None))
    # 10.00 buys 16 minutes (9.60) after the 60 free seconds.
    assert (started.granted_quantity, started.reserved_amount) == (Decimal(1020), Decimal("9.60"))


def test_postpaid_grant_is_bounded_by_the_credit_limit(world: Engine) -> None:
    started = world.start_session(start_call("call-1", user="bob-msisdn", requested=None))
    # 100.00 of credit: 166 minutes (99.60) after the 60 free seconds.
    assert (started.granted_quantity, started.reserved_amount) == (Decimal(10020), Decimal("99.60"))
    assert started.session.reservations[0].account_id == "bob-postpaid"


DATA_CATALOG = {
    "item_classes": [{"name": "data", "quantity": "volume", "properties": [{"name": "volume", "type": "integer", "unit": "bytes"}]}],
    "charge_plans": [
        {
            "name": "surf",
            "currency": "EUR",
            "counters": [{"name": "free_data", "scope": "contract_item", "unit": "megabytes", "initial": 100}],
            "charges": [
                {
                    "name": "data",
                    "item_class": "data",
                    "account_role": "payer",
                    "rounding": {"decimals": 2, "mode": "half_up"},
                    "price": {
                        "type": "allowance",
                        "counter": "free_data",
                        "then": {
                            "type": "tiers",
                            "mode": "graduated",
                            "unit": "megabytes",
                            "bands": [
                                {"up_to": 1000, "price": {"type": "rate", "amount": "0.01", "unit": "megabytes", "increment": 1}},
                                {"price": {"type": "rate", "amount": "0.005", "unit": "megabytes", "increment": 1}},
                            ],
                        },
                    },
                }
            ],
        }
    ],
}
MEGABYTE = 1_000_000


def test_data_session_uses_the_allowance_then_paid_tiers(engine: Engine) -> None:
    engine.load_catalog(DATA_CATALOG)
    (user,) = add_subscriber(engine, "carol", plan="surf", initial_balance="5.00")
    data = StartSession("data-1", "data", "mobile", user, AT, 60_000, "volume", {}, requested_quantity=None)
    started = engine.start_session(data)
    # 100 MB free, then 0.01 per MB: 5.00 buys 500 MB more.
    assert (started.granted_quantity, started.reserved_amount) == (600 * MEGABYTE, Decimal("5.00"))

    updated = engine.update_session(UpdateSession("data-1", used_quantity=150 * MEGABYTE, requested_quantity=200 * MEGABYTE))
    assert updated.charge is not None and updated.charge.charged_items is not None
    assert updated.charge.charged_items[0].amount == Decimal("0.50")  # 100 MB free, 50 MB paid
    assert (updated.granted_quantity, updated.reserved_amount) == (200 * MEGABYTE, Decimal("2.00"))
    counters = {impact.counter: impact.delta for impact in updated.session.impacts.counters}
    assert counters == {"free_data": Decimal(-100)}

    stopped = engine.stop_session(StopSession("data-1", used_quantity=200 * MEGABYTE))
    assert stopped.session.charged_amount == Decimal("2.50")
    assert balance(engine, "carol-prepaid") == Decimal("2.50")
    assert [impact.amount for impact in stopped.session.impacts.balances] == [Decimal("-2.50")]


def test_two_services_share_one_balance_and_stop_together(world: Engine) -> None:
    voice = world.start_session(start_call("ccr-1-voice", requested="600", reservation_id="ccr-1"))
    data = StartSession(
        "ccr-1-data", "data_session", "mobile", "alice-msisdn", AT, 60_000, "volume", {}, requested_quantity=500 * MEGABYTE,
        reservation_id="ccr-1",
    )  # fmt: skip
    second = world.start_session(data)
    # 100 MB at 0.01 then 400 MB at 0.005.
    assert (voice.reserved_amount, second.reserved_amount) == (Decimal("5.40"), Decimal("3.00"))
    assert reserved_total(world, "alice-prepaid") == Decimal("8.40")
    third = world.start_session(start_call("ccr-1-voice-2", requested="600", reservation_id="ccr-1"))
    # 1.60 is left, not 10.00, and the free seconds are held by the first call: two minutes (1.20).
    assert (third.granted_quantity, third.reserved_amount) == (Decimal(120), Decimal("1.20"))
    assert [impact.delta for impact in voice.session.impacts.held_counters] == [Decimal(-60)]

    results = world.stop_reservation("ccr-1", {"ccr-1-voice": "120", "ccr-1-data": 100 * MEGABYTE})
    assert {result.session.session_id: result.session.status for result in results} == {
        "ccr-1-voice": SessionStatus.STOPPED,
        "ccr-1-data": SessionStatus.STOPPED,
        "ccr-1-voice-2": SessionStatus.STOPPED,
    }
    assert balance(world, "alice-prepaid") == Decimal("10.00") - Decimal("0.60") - Decimal("1.00")
    assert reserved_total(world, "alice-prepaid") == 0


def test_usage_above_grant_is_charged_in_full_with_a_notification(world: Engine) -> None:
    world.start_session(start_call("call-1", requested="60"))
    stopped = world.stop_session(StopSession("call-1", used_quantity="180"))
    assert stopped.session.charged_amount == Decimal("1.20")
    assert [note.kind for note in stopped.notifications] == ["allowance_exhausted", "usage_above_grant"]
    with UnitOfWork(world.database, writes=False) as uow:
        kinds = uow.connection.exec_driver_sql("SELECT kind FROM notifications ORDER BY id").scalars().all()
    assert kinds == ["allowance_exhausted", "usage_above_grant"]


def test_offline_charges_cannot_spend_reserved_money(world: Engine) -> None:
    world.start_session(start_call("call-1", requested=None))  # reserves 9.60 of 10.00
    with pytest.raises(KopekError) as refused:
        world.charge(call(seconds="180"))  # 2 minutes after the free seconds: 1.20
    assert refused.value.code == "prepaid_balance_cannot_cover"
    world.cancel_session("call-1")
    assert world.charge(call(seconds="180")).charged_items is not None


USAGE = ("90", "150", "45", "0", "61")


def test_session_costs_exactly_what_offline_charging_of_the_same_usage_costs(world: Engine) -> None:
    (dave,) = add_subscriber(world, "dave", initial_balance="10.00")
    world.start_session(start_call("call-1", requested="120"))
    for used in USAGE[:-1]:
        world.update_session(UpdateSession("call-1", used_quantity=used, requested_quantity="120"))
    world.stop_session(StopSession("call-1", used_quantity=USAGE[-1]))
    for used in USAGE:
        if used != "0":
            world.charge(ChargeableItem("voice_call", AT, "mobile", dave, {"duration": used, "destination": "33123"}))

    def charged(contract_id: str) -> list[tuple[Decimal, Decimal]]:
        return [(row["amount"], row["quantity"]) for row in charged_rows(world, contract_id)]

    assert charged("alice-contract") == charged("dave-contract-0")
    assert balance(world, "alice-prepaid") == balance(world, "dave-prepaid")
    with UnitOfWork(world.database, writes=False) as uow:
        alice, dave_counters = uow.master.counter_rows("alice-contract"), uow.master.counter_rows("dave-contract-0")
        sessions_of = uow.connection.exec_driver_sql("SELECT count(*) FROM charging_operations WHERE session_id = 'call-1'").scalar()
    assert [(row["name"], row["value"]) for row in alice] == [(row["name"], row["value"]) for row in dave_counters]
    assert sessions_of == 4
    assert world.session("call-1").charged_amount == Decimal(10) - balance(world, "alice-prepaid")
