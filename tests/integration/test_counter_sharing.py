"""Counters shared beyond one contract, stored with their periods: shared allowances across the
contracts of a namespace (no lost update under concurrency), a linked contract using its
parent's allowance, a payer of another subscriber account, resets and activation counters
as stored and read back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import ChargeableItem, ChargeResult, Engine, KopekError
from kopek.store.schema import activation_counters, activations, counters, shared_counters
from kopek.store.uow import UnitOfWork
from tests.integration.support import exact_sum, prepaid_subscriber, run_together, sharing_engine, voice_contract

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def world(any_url: str) -> Iterator[Engine]:
    with sharing_engine(any_url) as engine:
        yield engine


def call(user: str, seconds: int, *, at: datetime = AT) -> ChargeableItem:
    return ChargeableItem("call", at, "voice", user, {"duration": seconds})


def rows(engine: Engine, table: sa.Table) -> list[dict[str, Any]]:
    with UnitOfWork(engine.database, writes=False) as uow:
        return [dict(row) for row in uow.connection.execute(sa.select(table)).mappings()]


def amount(result: ChargeResult) -> Decimal:
    return exact_sum(item.amount for item in result.charged_items or [])


def test_contracts_of_two_subscribers_draw_on_one_shared_allowance(world: Engine) -> None:
    for holder in ("ann", "ben"):
        prepaid_subscriber(world, holder)
        voice_contract(world, f"{holder}-line", holder, "family_pool")

    first = world.charge(call("ann-line", 400))
    second = world.charge(call("ben-line", 300))

    assert (amount(first), amount(second)) == (Decimal(0), Decimal("1.00"))  # 200 s left for ben, 100 s at 0.01
    (pool,) = rows(world, shared_counters)
    assert (pool["namespace"], pool["name"], pool["value"]) == ("family", "pool", Decimal(0))
    assert rows(world, counters) == []


def test_a_linked_contract_uses_its_parents_allowance_and_another_subscriber_pays(world: Engine) -> None:
    parent_account = prepaid_subscriber(world, "parent")
    prepaid_subscriber(world, "teen", balance="0")
    voice_contract(world, "parent-line", "parent", "parent_bundle")
    voice_contract(world, "teen-line", "teen", "parent_bundle", payer=parent_account, parent="parent-line")

    teen = world.charge(call("teen-line", 250))
    parent = world.charge(call("parent-line", 100))

    assert (amount(teen), amount(parent)) == (Decimal(0), Decimal("1.00"))  # 50 s left in the bundle, 50 s at 0.02
    assert world.account(parent_account).balance == Decimal("99.00")
    assert world.account("teen-prepaid").balance == Decimal(0)
    (bundle,) = rows(world, counters)
    assert (bundle["contract_id"], bundle["item_id"], bundle["value"]) == ("parent-line", "", Decimal(0))
    assert bundle["period_start"] == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_monthly_reset_happens_at_the_first_item_of_the_next_month_and_is_stored(world: Engine) -> None:
    prepaid_subscriber(world, "ann")
    voice_contract(world, "ann-line", "ann", "parent_bundle")

    world.charge(call("ann-line", 300))
    april = world.charge(call("ann-line", 310, at=datetime(2026, 4, 2, tzinfo=UTC)))

    assert amount(april) == Decimal("0.20")
    (bundle,) = rows(world, counters)
    assert (bundle["value"], bundle["period_start"]) == (Decimal(0), datetime(2026, 4, 1, tzinfo=UTC))


def test_activation_counters_live_with_the_charge_activation_of_the_contract_item(world: Engine) -> None:
    prepaid_subscriber(world, "ann")
    voice_contract(world, "ann-line", "ann", "activation_bundle")

    world.charge(call("ann-line", 30))
    next_day = world.charge(call("ann-line", 130, at=datetime(2026, 3, 11, 8, tzinfo=UTC)))

    assert amount(next_day) == Decimal("0.30")
    (activation,) = rows(world, activations)
    assert (activation["id"], activation["item_id"], activation["status"]) == ("main", "main", "active")
    (included,) = rows(world, activation_counters)
    assert (included["activation_id"], included["value"], included["period_start"]) == (
        "main",
        Decimal(0),
        datetime(2026, 3, 11, tzinfo=UTC),
    )


CONTRACTS = 6
CALLS_PER_CONTRACT = 12
SECONDS_PER_CALL = 10


def test_concurrent_charges_on_one_shared_allowance_lose_no_update(postgres_url: str) -> None:
    """Six contracts of six subscribers, twelve calls each at once: the pool gives exactly 600 s away, once."""
    with sharing_engine(postgres_url) as engine:
        for index in range(CONTRACTS):
            prepaid_subscriber(engine, f"member-{index}")
            voice_contract(engine, f"member-{index}-line", f"member-{index}", "family_pool")

        def calls(index: int) -> list[ChargeResult | KopekError]:
            outcomes: list[ChargeResult | KopekError] = []
            for _ in range(CALLS_PER_CONTRACT):
                try:
                    outcomes.append(engine.charge(call(f"member-{index}-line", SECONDS_PER_CALL)))
                except KopekError as error:
                    outcomes.append(error)
            return outcomes

        per_thread = run_together([lambda index=index: calls(index) for index in range(CONTRACTS)])

        results = [outcome for outcomes in per_thread for outcome in outcomes]
        assert all(isinstance(outcome, ChargeResult) for outcome in results), results
        charged = exact_sum(amount(result) for result in results if isinstance(result, ChargeResult))
        total_seconds = CONTRACTS * CALLS_PER_CONTRACT * SECONDS_PER_CALL
        assert charged == Decimal("0.01") * (total_seconds - 600)  # every second beyond the 600 free ones, and no more
        (pool,) = rows(engine, shared_counters)
        assert pool["value"] == Decimal(0)
        balances = exact_sum(engine.account(f"member-{index}-prepaid").balance for index in range(CONTRACTS))
        assert balances == Decimal(100) * CONTRACTS - charged
