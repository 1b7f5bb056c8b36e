"""Price enquiry: what an item would cost now, by charge and pricing node, changing nothing at all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import ChargeableItem, ContractUpdate, Engine, KopekError, SubscriberAccountUpdate
from kopek.store.schema import metadata
from kopek.store.uow import UnitOfWork
from tests.integration.sessions_support import start_call
from tests.worlds import AT, balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def database_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a price enquiry must leave all of them as they were."""
    with UnitOfWork(engine.database, writes=False) as uow:
        return {
            table.name: sorted((tuple(row) for row in uow.connection.execute(sa.select(table))), key=repr)
            for table in metadata.sorted_tables
        }


def test_a_quote_breaks_the_amount_down_by_charge_and_node_and_tells_the_allowance_used(world: Engine) -> None:
    answer = world.quote(call(seconds="125"))
    assert (answer.contract_id, answer.amount, answer.currency, answer.quantity) == ("alice-contract", Decimal("1.20"), "EUR", 125)
    (charge,) = answer.charges
    assert (charge.charge_plan, charge.charge, charge.account_id, charge.amount) == ("mobile", "voice", "alice-prepaid", Decimal("1.20"))
    # 60 free seconds, then 65 s billed by the started minute at 0.60: two minutes.
    assert [(node.depth, node.node, node.detail, node.quantity, node.amount) for node in charge.nodes] == [
        (0, "allowance", "free_seconds", 125, Decimal("1.2")),
        (1, "prefix", "destination", 65, Decimal("1.2")),
        (2, "rate", "0.60 per 1 minutes", 65, Decimal("1.2")),
    ]
    (allowance,) = answer.allowances
    assert (allowance.counter, allowance.contract_item_id, allowance.before, allowance.after, allowance.used) == (
        "free_seconds",
        "main",
        60,
        0,
        60,
    )
    assert answer.maximum_affordable is None


def test_a_graduated_tier_shows_each_band_it_priced(world: Engine) -> None:
    answer = world.quote(ChargeableItem("data_session", AT, "mobile", "alice-msisdn", {"volume": 150_000_000}))
    nodes = [(node.depth, node.node, node.quantity, node.amount) for node in answer.charges[0].nodes]
    assert nodes == [(0, "tiers", 150_000_000, Decimal("1.25")), (1, "rate", 100_000_000, 1), (1, "rate", 50_000_000, Decimal("0.25"))]
    assert answer.allowances == []


def test_a_quote_writes_nothing_at_all(world: Engine) -> None:
    world.charge(call(seconds="30"))
    world.start_session(start_call("call-1", requested="120"))
    before = database_snapshot(world)
    world.quote(call(seconds="125"), maximum_affordable=True)
    world.quote(call(seconds="125"), quantity="600")
    world.quote(ChargeableItem("sms", AT, "mobile", "bob-msisdn", {"destination": "33"}))
    assert database_snapshot(world) == before


def test_the_quoted_amount_is_what_charging_the_item_then_costs(world: Engine) -> None:
    world.charge(call(seconds="40"))
    quoted = world.quote(call(seconds="200", destination="44123"))
    charged = world.charge(call(seconds="200", destination="44123"))
    assert [line.amount for line in charged.charged_items or []] == [charge.amount for charge in quoted.charges]
    # 20 free seconds were left; 180 s at 0.02 a second.
    assert quoted.amount == Decimal("3.60")
    assert [(use.before, use.used) for use in quoted.allowances] == [(20, 20)]


def test_a_requested_quantity_replaces_the_items_own(world: Engine) -> None:
    answer = world.quote(call(seconds="125"), quantity="30")
    assert (answer.quantity, answer.amount) == (30, 0)
    assert [(use.before, use.after, use.used) for use in answer.allowances] == [(60, 30, 30)]


def test_the_maximum_affordable_quantity_is_the_grant_a_session_would_get(world: Engine) -> None:
    answer = world.quote(call(seconds="1"), maximum_affordable=True)
    started = world.start_session(start_call("call-1", requested=None))
    assert answer.maximum_affordable is not None
    assert answer.maximum_affordable.quantity == started.granted_quantity == 1020
    assert [(line.account_id, line.amount) for line in answer.maximum_affordable.amounts] == [("alice-prepaid", started.reserved_amount)]
    # The session's reservation now holds that money: nothing more is affordable.
    after = world.quote(call(seconds="1"), maximum_affordable=True).maximum_affordable
    assert after is not None
    assert (after.quantity, after.refusal) == (0, "prepaid_balance_cannot_cover")


def test_a_quote_of_a_blocked_account_prices_but_affords_nothing(world: Engine) -> None:
    world.update_subscriber_account("alice", SubscriberAccountUpdate.model_validate({"status": "blocked"}))
    answer = world.quote(call(seconds="125"), maximum_affordable=True)
    assert answer.amount == Decimal("1.20")
    assert answer.maximum_affordable is not None
    assert (answer.maximum_affordable.quantity, answer.maximum_affordable.refusal) == (0, "account_blocked")
    assert balance(world, "alice-prepaid") == Decimal("10.00")


@pytest.mark.parametrize(
    ("item", "options", "expected"),
    [
        pytest.param(call(user="nobody"), {}, ("PREREQUISITE_MISSING", "access_not_found"), id="no-access"),
        pytest.param(call(destination="999123"), {}, ("ILLEGAL_STATE", "service_not_accessible"), id="barred-destination"),
        pytest.param(call(), {"quantity": "-1"}, ("INVALID", "quantity_negative"), id="negative-quantity"),
        pytest.param(
            ChargeableItem("sms", AT, "mobile", "alice-msisdn", {"destination": "33"}),
            {"quantity": "2"},
            ("INVALID", "item_class_has_no_quantity"),
            id="quantity-of-a-class-without-one",
        ),
        pytest.param(
            ChargeableItem("sms", AT, "mobile", "alice-msisdn", {"destination": "33"}),
            {"maximum_affordable": True},
            ("INVALID", "item_class_has_no_quantity"),
            id="maximum-of-a-class-without-quantity",
        ),
        pytest.param(
            ChargeableItem("fax", AT, "mobile", "alice-msisdn", {}), {}, ("PREREQUISITE_MISSING", "item_class_unknown"), id="class"
        ),
    ],
)
def test_a_quote_is_refused_as_a_charge_would_be(
    world: Engine, item: ChargeableItem, options: dict[str, Any], expected: tuple[str, str]
) -> None:
    before = database_snapshot(world)
    with pytest.raises(KopekError) as refused:
        world.quote(item, **options)
    assert (refused.value.category, refused.value.code) == expected
    assert database_snapshot(world) == before


def test_a_contract_locked_by_recharging_is_not_quoted(world: Engine) -> None:
    world.update_contract("alice-contract", ContractUpdate.model_validate({"status": "locked"}))
    with pytest.raises(KopekError) as refused:
        world.quote(call())
    assert (refused.value.category, refused.value.code) == ("ILLEGAL_STATE", "contract_locked")
